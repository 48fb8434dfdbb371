package weightedlru

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

type fakeClock struct{ now time.Time }

func (f *fakeClock) Now() time.Time { return f.now }

type op struct {
	// One of add and get: the key to add (with weight and ttl) or to get.
	add, get string
	weight   int64
	ttl      time.Duration
	wait     time.Duration // clock advance before the op
}

func TestCache(t *testing.T) {
	tests := map[string]struct {
		maxEntries int
		maxBytes   int64
		ops        []op
		wantKeys   []string // held, most recently used first
		wantBytes  int64
		wantStored []bool // Add results in order
	}{
		"bytes bound evicts the least recently used": {
			maxEntries: 10, maxBytes: 100,
			ops:      []op{{add: "a", weight: 40}, {add: "b", weight: 40}, {get: "a"}, {add: "c", weight: 40}},
			wantKeys: []string{"c", "a"}, wantBytes: 80, wantStored: []bool{true, true, true},
		},
		"one heavy entry evicts many light ones": {
			maxEntries: 10, maxBytes: 100,
			ops:      []op{{add: "a", weight: 10}, {add: "b", weight: 10}, {add: "c", weight: 10}, {add: "huge", weight: 90}},
			wantKeys: []string{"huge", "c"}, wantBytes: 100, wantStored: []bool{true, true, true, true},
		},
		"entries bound": {
			maxEntries: 2, maxBytes: 100,
			ops:      []op{{add: "a", weight: 1}, {add: "b", weight: 1}, {add: "c", weight: 1}},
			wantKeys: []string{"c", "b"}, wantBytes: 2, wantStored: []bool{true, true, true},
		},
		"an entry heavier than the cache is not stored and keeps the others": {
			maxEntries: 10, maxBytes: 100,
			ops:      []op{{add: "a", weight: 10}, {add: "huge", weight: 101}},
			wantKeys: []string{"a"}, wantBytes: 10, wantStored: []bool{true, false},
		},
		"replacing an entry reweighs it": {
			maxEntries: 10, maxBytes: 100,
			ops:      []op{{add: "a", weight: 10}, {add: "b", weight: 10}, {add: "a", weight: 50}},
			wantKeys: []string{"a", "b"}, wantBytes: 60, wantStored: []bool{true, true, true},
		},
		"replacing with a too heavy entry drops the old one": {
			maxEntries: 10, maxBytes: 100,
			ops:      []op{{add: "a", weight: 10}, {add: "a", weight: 200}},
			wantKeys: []string{}, wantBytes: 0, wantStored: []bool{true, false},
		},
		"expired entries are misses and are dropped": {
			maxEntries: 10, maxBytes: 100,
			ops: []op{{add: "a", weight: 10, ttl: time.Second}, {add: "b", weight: 10}, {add: "c", weight: 10, ttl: time.Hour},
				{wait: 2 * time.Second, get: "a"}, {get: "b"}, {get: "c"}},
			wantKeys: []string{"c", "b"}, wantBytes: 20, wantStored: []bool{true, true, true},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
			c := New[string, string](tc.maxEntries, tc.maxBytes, clock)
			var stored []bool
			for _, o := range tc.ops {
				clock.now = clock.now.Add(o.wait)
				if o.add != "" {
					stored = append(stored, c.Add(o.add, "v"+o.add, o.weight, o.ttl))
					continue
				}
				c.Get(o.get)
			}
			var keys []string
			for el := c.order.Front(); el != nil; el = el.Next() {
				keys = append(keys, el.Value.(*entry[string, string]).key)
			}
			if !slices.Equal(keys, tc.wantKeys) {
				t.Errorf("keys %q, want %q", keys, tc.wantKeys)
			}
			if c.Bytes() != tc.wantBytes || c.Len() != len(tc.wantKeys) {
				t.Errorf("%d entries, %d bytes; want %d, %d", c.Len(), c.Bytes(), len(tc.wantKeys), tc.wantBytes)
			}
			if !slices.Equal(stored, tc.wantStored) {
				t.Errorf("Add results %v, want %v", stored, tc.wantStored)
			}
			for _, k := range tc.wantKeys {
				if v, ok := c.Get(k); !ok || v != "v"+k {
					t.Errorf("Get(%q) = %q, %v", k, v, ok)
				}
			}
		})
	}
}

// TestConcurrentUseKeepsTheBound: under concurrent adds and gets the weight never passes the
// bound and the accounting stays exact.
func TestConcurrentUseKeepsTheBound(t *testing.T) {
	c := New[string, int](1000, 5000, &fakeClock{now: time.Unix(0, 0)})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := fmt.Sprint(g, "/", i%300)
				c.Add(k, i, int64(1+i%97), 0)
				c.Get(fmt.Sprint((g+1)%8, "/", i%300))
				if b := c.Bytes(); b > 5000 {
					t.Errorf("%d bytes held, bound 5000", b)
					return
				}
			}
		})
	}
	wg.Wait()
	var sum int64
	for el := c.order.Front(); el != nil; el = el.Next() {
		sum += el.Value.(*entry[string, int]).weight
	}
	if sum != c.Bytes() || len(c.items) != c.order.Len() {
		t.Errorf("weights sum to %d, Bytes %d; %d items, %d in order", sum, c.Bytes(), len(c.items), c.order.Len())
	}
}
