package admission

import (
	"context"
	"time"

	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/internal/weightedlru"
)

const (
	// objectEntryBytes is what a cached object weighs beyond its names and data (the
	// structs, the map, the LRU's bookkeeping): an estimate, generous for a small object.
	objectEntryBytes = 512
	// maxNotFoundTTL keeps a cached NotFound short: a user who creates the secret right after
	// the pod should not see a stale "not found" warning for long.
	maxNotFoundTTL = 2 * time.Second
)

// objectCache sits in front of the API reader for Secret and ServiceAccount GETs. Namespaced
// GETs, never a list/watch: the webhook must not hold every Secret of the cluster in memory.
// A burst of admissions for one namespace shares one GET (singleflight) and then the cached
// answer for ttl; NotFound is cached too, briefly. The cache is bounded in entries and in bytes
// (Config.SecretCacheSize, SecretCacheBytes): a Secret may be 1 MiB, and 4,096 of them would
// be 4 GiB. What it keeps of a Secret is what the keyring reads (cachedView), not the object.
type objectCache struct {
	reader client.Reader
	ttl    time.Duration
	// getTimeout bounds a shared GET, which runs detached from any one caller's context so
	// that a caller giving up does not fail the others waiting on it.
	getTimeout time.Duration
	lru        *weightedlru.Cache[cacheKey, cached]
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

func newObjectCache(reader client.Reader, cfg Config, clk clock.Clock) *objectCache {
	return &objectCache{
		reader: reader, ttl: cfg.SecretCacheTTL, getTimeout: cfg.MaxBudget,
		lru: weightedlru.New[cacheKey, cached](cfg.SecretCacheSize, cfg.SecretCacheBytes, clk),
	}
}

// get returns the object (newObj() filled in), or found=false when it does not exist.
// Callers must not modify the returned object: it is shared with later callers.
func (c *objectCache) get(ctx context.Context, kind, namespace, name string, newObj func() client.Object) (client.Object, bool, error) {
	key := cacheKey{kind: kind, namespace: namespace, name: name}
	if e, ok := c.lru.Get(key); ok {
		return e.obj, !e.notFound, nil
	}
	ch := c.group.DoChan(kind+"/"+namespace+"/"+name, func() (any, error) {
		// A flight that finished between our miss and this call has filled the cache.
		if e, ok := c.lru.Get(key); ok {
			return e, nil
		}
		getCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.getTimeout)
		defer cancel()
		obj := newObj()
		err := c.reader.Get(getCtx, client.ObjectKey{Namespace: namespace, Name: name}, obj)
		switch {
		case apierrors.IsNotFound(err):
			c.add(key, cached{notFound: true}, int64(objectEntryBytes+len(key.kind)+len(key.namespace)+len(key.name)), min(c.ttl, maxNotFoundTTL))
			return cached{notFound: true}, nil
		case err != nil:
			return nil, err
		}
		view, weight := cachedView(obj)
		c.add(key, cached{obj: view}, weight, c.ttl)
		return cached{obj: view}, nil
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

func (c *objectCache) add(key cacheKey, v cached, weight int64, ttl time.Duration) {
	if ttl > 0 {
		c.lru.Add(key, v, weight, ttl)
	}
}

// cachedView is what the handler reads of obj, and what that weighs: of a Secret, its names,
// identity (the keyring cache's key), type and the one data key its type makes the kubelet read
// (keyring.FromSecrets); of a ServiceAccount, its names and imagePullSecrets. Nothing else of a
// Secret stays in memory past the admission that read it.
func cachedView(obj client.Object) (client.Object, int64) {
	meta := metav1.ObjectMeta{Name: obj.GetName(), Namespace: obj.GetNamespace(), UID: obj.GetUID(), ResourceVersion: obj.GetResourceVersion()}
	weight := objectEntryBytes + len(meta.Name) + len(meta.Namespace) + len(meta.UID) + len(meta.ResourceVersion)
	switch o := obj.(type) {
	case *corev1.Secret:
		view := &corev1.Secret{ObjectMeta: meta, Type: o.Type}
		key := map[corev1.SecretType]string{corev1.SecretTypeDockerConfigJson: corev1.DockerConfigJsonKey, corev1.SecretTypeDockercfg: corev1.DockerConfigKey}[o.Type]
		if data, ok := o.Data[key]; ok && key != "" {
			view.Data = map[string][]byte{key: data}
			weight += len(key) + len(data)
		}
		return view, int64(weight)
	case *corev1.ServiceAccount:
		view := &corev1.ServiceAccount{ObjectMeta: meta, ImagePullSecrets: o.ImagePullSecrets}
		for _, r := range o.ImagePullSecrets {
			weight += 16 + len(r.Name)
		}
		return view, int64(weight)
	}
	return obj, int64(weight)
}
