// Package weightedlru is a least-recently-used cache bounded both by its number of entries and
// by the bytes they weigh, each entry with an optional expiry.
//
// The engine's caches hold what registries and pods send: counting entries alone lets one
// hostile entry weigh a thousand ordinary ones. The libraries at hand do not fit: k8s.io/utils/lru,
// apimachinery's LRUExpireCache and hashicorp/golang-lru count entries only, and the weighted
// ones (ristretto, otter) apply writes and evictions through buffers, so their bound can be
// exceeded for a while and an entry just added may not be found yet. Here every Add evicts
// before it returns, so the bound holds at every instant, and expiry reads the caller's clock,
// which tests drive.
package weightedlru

import (
	"container/list"
	"sync"
	"time"
)

// Clock tells the time expiry is measured against.
type Clock interface{ Now() time.Time }

// Cache is safe for concurrent use.
type Cache[K comparable, V any] struct {
	maxEntries int
	maxBytes   int64
	clock      Clock

	mu    sync.Mutex
	order *list.List // of *entry[K, V], most recently used first
	items map[K]*list.Element
	bytes int64
}

type entry[K comparable, V any] struct {
	key     K
	value   V
	weight  int64
	expires time.Time // zero: never
}

// New returns a cache of at most maxEntries entries weighing at most maxBytes in all.
func New[K comparable, V any](maxEntries int, maxBytes int64, clock Clock) *Cache[K, V] {
	return &Cache[K, V]{maxEntries: maxEntries, maxBytes: maxBytes, clock: clock, order: list.New(), items: map[K]*list.Element{}}
}

// Add stores value under key, weighing weight bytes, for ttl (0: until evicted), replacing what
// key held, and evicts the least recently used entries until both bounds hold. An entry heavier
// than the whole cache is not stored, and what key held is dropped: Add reports false.
func (c *Cache[K, V]) Add(key K, value V, weight int64, ttl time.Duration) bool {
	var expires time.Time
	if ttl > 0 {
		expires = c.clock.Now().Add(ttl)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
	if weight > c.maxBytes {
		return false
	}
	c.items[key] = c.order.PushFront(&entry[K, V]{key: key, value: value, weight: weight, expires: expires})
	c.bytes += weight
	for c.order.Len() > c.maxEntries || c.bytes > c.maxBytes {
		c.remove(c.order.Back())
	}
	return true
}

// Get returns the value under key unless it has expired, and marks it most recently used.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	e := el.Value.(*entry[K, V])
	if !e.expires.IsZero() && c.clock.Now().After(e.expires) {
		c.remove(el)
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.value, true
}

// Len is the number of entries held, expired ones not yet dropped included.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// Bytes is what the entries held weigh.
func (c *Cache[K, V]) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

func (c *Cache[K, V]) remove(el *list.Element) {
	e := c.order.Remove(el).(*entry[K, V])
	delete(c.items, e.key)
	c.bytes -= e.weight
}
