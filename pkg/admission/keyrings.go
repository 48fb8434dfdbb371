package admission

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/pullguard/pullguard/internal/weightedlru"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// The keyring cache is bounded like the object cache it sits behind, in entries
// (Config.SecretCacheSize: one per distinct list of pull secrets seen within the TTL) and in
// bytes (Config.KeyringCacheBytes). Counting entries alone is not enough: a parsed keyring keeps
// about 12 bytes of heap per byte of its secrets' dockerconfigjson (measured: 24.5 MB for a
// 2.0 MB secret of 55,000 keys), and every list of secret versions is an entry of its own, so a
// few large secrets listed in a few orders would otherwise hold hundreds of MB. A keyring
// heavier than the bound is rebuilt per admission, as before there was a cache.
const (
	// keyringBytesPerSecretByte and keyringEntryBytes estimate a keyring's weight from its secrets.
	keyringBytesPerSecretByte = 12
	keyringEntryBytes         = 256
)

// keyringCache keeps the keyring built from a list of pull secrets, so that admission after
// admission of the same workload decodes no dockerconfigjson and the keyring prepares its
// patterns and explanation identity once (keyring.ExplainID), not per admission. It is keyed by
// each secret's UID and resourceVersion in pod order: any change to a secret, or a secret
// deleted and created again under the same name, is a new key, and the order is part of the
// kubelet's lookup. Entries live as long as the secrets they were built from are cached.
type keyringCache struct {
	ttl time.Duration
	lru *weightedlru.Cache[string, *keyring.Keyring]
}

func newKeyringCache(cfg Config, clk clock.Clock) *keyringCache {
	return &keyringCache{ttl: cfg.SecretCacheTTL, lru: weightedlru.New[string, *keyring.Keyring](cfg.SecretCacheSize, cfg.KeyringCacheBytes, clk)}
}

// get returns keyring.FromSecrets(secrets), built once per list of secret versions.
func (c *keyringCache) get(secrets []corev1.Secret) *keyring.Keyring {
	key, ok := keyringKey(secrets)
	if !ok || c.ttl <= 0 {
		return keyring.FromSecrets(secrets)
	}
	if kr, ok := c.lru.Get(key); ok {
		return kr
	}
	kr := keyring.FromSecrets(secrets)
	c.lru.Add(key, kr, keyringWeight(key, secrets), c.ttl)
	return kr
}

// keyringWeight estimates what the keyring built from secrets keeps on the heap.
func keyringWeight(key string, secrets []corev1.Secret) int64 {
	n := keyringEntryBytes + len(key)
	for i := range secrets {
		for _, data := range secrets[i].Data {
			n += keyringBytesPerSecretByte * len(data)
		}
	}
	return int64(n)
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
