package admission

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/cache"

	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// keyringCacheSize bounds the keyring cache like the object cache it sits behind: one entry per
// distinct list of pull secrets seen within the TTL.
const keyringCacheSize = 4096

// keyringCache keeps the keyring built from a list of pull secrets, so that admission after
// admission of the same workload decodes no dockerconfigjson and the keyring prepares its
// patterns and explanation identity once (keyring.ExplainID), not per admission. It is keyed by
// each secret's UID and resourceVersion in pod order: any change to a secret, or a secret
// deleted and created again under the same name, is a new key, and the order is part of the
// kubelet's lookup. Entries live as long as the secrets they were built from are cached.
type keyringCache struct {
	ttl time.Duration
	lru *cache.LRUExpireCache
}

func newKeyringCache(ttl time.Duration) *keyringCache {
	return &keyringCache{ttl: ttl, lru: cache.NewLRUExpireCache(keyringCacheSize)}
}

// get returns keyring.FromSecrets(secrets), built once per list of secret versions.
func (c *keyringCache) get(secrets []corev1.Secret) *keyring.Keyring {
	key, ok := keyringKey(secrets)
	if !ok || c.ttl <= 0 {
		return keyring.FromSecrets(secrets)
	}
	if kr, ok := c.lru.Get(key); ok {
		return kr.(*keyring.Keyring)
	}
	kr := keyring.FromSecrets(secrets)
	c.lru.Add(key, kr, c.ttl)
	return kr
}

// keyringKey identifies a list of secret versions; ok is false when a secret lacks its UID or
// resourceVersion (an object not read from an API server), which then is never cached.
func keyringKey(secrets []corev1.Secret) (string, bool) {
	var b strings.Builder
	for i := range secrets {
		uid, rv := string(secrets[i].UID), secrets[i].ResourceVersion
		if uid == "" || rv == "" {
			return "", false
		}
		b.WriteString(uid)
		b.WriteByte('/')
		b.WriteString(rv)
		b.WriteByte(0)
	}
	return b.String(), true
}
