package admission

import (
	"context"
	"time"

	"golang.org/x/sync/singleflight"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// objectCacheSize bounds the Secret/ServiceAccount cache; entries are small and short-lived.
	objectCacheSize = 4096
	// maxNotFoundTTL keeps a cached NotFound short: a user who creates the secret right after
	// the pod should not see a stale "not found" warning for long.
	maxNotFoundTTL = 2 * time.Second
)

// objectCache sits in front of the API reader for Secret and ServiceAccount GETs. Namespaced
// GETs, never a list/watch: the webhook must not hold every Secret of the cluster in memory.
// A burst of admissions for one namespace shares one GET (singleflight) and then the cached
// answer for ttl; NotFound is cached too, briefly.
type objectCache struct {
	reader client.Reader
	ttl    time.Duration
	// getTimeout bounds a shared GET, which runs detached from any one caller's context so
	// that a caller giving up does not fail the others waiting on it.
	getTimeout time.Duration
	lru        *cache.LRUExpireCache
	group      singleflight.Group
}

type cacheKey struct {
	kind, namespace, name string
}

// cached is a GET result: obj, or notFound.
type cached struct {
	obj      client.Object
	notFound bool
}

func newObjectCache(reader client.Reader, ttl, getTimeout time.Duration) *objectCache {
	return &objectCache{reader: reader, ttl: ttl, getTimeout: getTimeout, lru: cache.NewLRUExpireCache(objectCacheSize)}
}

// get returns the object (newObj() filled in), or found=false when it does not exist.
// Callers must not modify the returned object: it is shared with later callers.
func (c *objectCache) get(ctx context.Context, kind, namespace, name string, newObj func() client.Object) (client.Object, bool, error) {
	key := cacheKey{kind: kind, namespace: namespace, name: name}
	if v, ok := c.lru.Get(key); ok {
		e := v.(cached)
		return e.obj, !e.notFound, nil
	}
	ch := c.group.DoChan(kind+"/"+namespace+"/"+name, func() (any, error) {
		// A flight that finished between our miss and this call has filled the cache.
		if v, ok := c.lru.Get(key); ok {
			return v, nil
		}
		getCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.getTimeout)
		defer cancel()
		obj := newObj()
		err := c.reader.Get(getCtx, client.ObjectKey{Namespace: namespace, Name: name}, obj)
		switch {
		case apierrors.IsNotFound(err):
			c.add(key, cached{notFound: true}, min(c.ttl, maxNotFoundTTL))
			return cached{notFound: true}, nil
		case err != nil:
			return nil, err
		}
		c.add(key, cached{obj: obj}, c.ttl)
		return cached{obj: obj}, nil
	})
	select {
	case <-ctx.Done():
		return nil, false, context.Cause(ctx)
	case r := <-ch:
		if r.Err != nil {
			return nil, false, r.Err
		}
		e := r.Val.(cached)
		return e.obj, !e.notFound, nil
	}
}

func (c *objectCache) add(key cacheKey, v cached, ttl time.Duration) {
	if ttl > 0 {
		c.lru.Add(key, v, ttl)
	}
}
