package registry

import (
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pullguard/pullguard/internal/testregistry"
)

// TestCachesAreBoundedByBytes fills both caches with hostile entries far heavier than ordinary
// ones, each kind weighing more in all than its cache may hold: verdicts whose message lists
// platform names of 4-byte characters up to the message limit, and indexes of MaxIndexChildren
// long platform names. What the caches hold never weighs more than their byte bounds, and an
// ordinary image checked between the hostile ones is still served from the cache.
func TestCachesAreBoundedByBytes(t *testing.T) {
	e := newEnv(t)
	good := e.registry(testregistry.Config{}, "good.example.com")
	evil := e.registry(testregistry.Config{}, "evil.example.com")
	const verdictFlood, indexFlood = 160, 8
	pushRaw := func(r *testregistry.Registry, repo, tag string, body []byte) v1.Hash {
		t.Helper()
		h, err := r.PushManifest(repo, tag, types.OCIImageIndex, body)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	// One ordinary index under several tags: each tag is a verdict of its own, one index entry.
	ordinary := rawIndex(2, func(i int) (string, string) { return "linux", []string{"amd64", "arm64"}[i] })
	for i := range indexFlood + 1 {
		pushRaw(good, "team/app", fmt.Sprintf("v%d", i), ordinary)
	}
	// A message lists 16 of these names, more than MaxMessageRunes of 4-byte characters.
	wide := rawIndex(20, func(i int) (string, string) { return "o", strings.Repeat("𝔞", 130) + fmt.Sprint(i) })
	for i := range verdictFlood {
		pushRaw(evil, "wide/app", fmt.Sprintf("t%d", i), wide)
	}
	var many []v1.Hash
	for i := range indexFlood {
		many = append(many, pushRaw(evil, "many/app", fmt.Sprintf("t%d", i),
			rawIndex(DefaultLimits().MaxIndexChildren, func(j int) (string, string) { return "o", fmt.Sprintf("%d-%0100d", i, j) })))
	}

	opts := e.options()
	// The HEAD path: an index is read (GET by digest) only when the index cache misses.
	opts.SinglePlatformCheck = false
	opts.CacheBytes, opts.IndexCacheBytes = minCacheBytes, minCacheBytes
	// Verdicts never expire here: only the byte bound can evict them.
	c, err := newChecker(opts, &fakeClock{now: time.Unix(1_800_000_000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	amd64 := ociPlats("linux/amd64")
	check := func(image string) Verdict {
		t.Helper()
		v := c.Check(ctxTimeout(t, 20*time.Second), Request{Image: image, Platforms: amd64})
		if b := c.verdicts.Bytes(); b > opts.CacheBytes {
			t.Fatalf("after %s the verdict cache weighs %d bytes, bound %d", image, b, opts.CacheBytes)
		}
		if b := c.indexes.Bytes(); b > opts.IndexCacheBytes {
			t.Fatalf("after %s the index cache weighs %d bytes, bound %d", image, b, opts.IndexCacheBytes)
		}
		return v
	}
	ordinaryVerdict := check("good.example.com/team/app:v0")
	assertVerdict(t, ordinaryVerdict, Pullable, ClassOK, nil, nil)
	t.Logf("an ordinary verdict weighs %d bytes", verdictWeight(strings.Repeat("k", 120), &cacheEntry{verdict: ordinaryVerdict}))

	t.Run("hostile verdicts", func(t *testing.T) {
		var heaviest int64
		for i := range verdictFlood {
			key := fmt.Sprintf("evil.example.com/wide/app:t%d", i)
			v := check(key)
			assertVerdict(t, v, NotPullable, ClassPlatformMissing, []string{"available: o/𝔞𝔞𝔞"}, nil)
			heaviest = max(heaviest, verdictWeight("", &cacheEntry{verdict: v}))
			if v := check("good.example.com/team/app:v0"); !v.Cached {
				t.Fatalf("after %d hostile verdicts the ordinary one is not served from the cache", i+1)
			}
		}
		t.Logf("hostile verdicts weigh up to %d bytes; %d held weigh %d", heaviest, c.verdicts.Len(), c.verdicts.Bytes())
		if total := heaviest * verdictFlood; total <= opts.CacheBytes || c.verdicts.Len() > verdictFlood {
			t.Errorf("hostile verdicts weigh up to %d bytes each (%d in all), %d of %d held: the flood did not need eviction",
				heaviest, total, c.verdicts.Len(), verdictFlood+1)
		}
	})

	t.Run("hostile indexes", func(t *testing.T) {
		goodGets := good.Count(testregistry.KindManifestGet)
		var heaviest int64
		for i := range indexFlood {
			v := check(fmt.Sprintf("evil.example.com/many/app:t%d", i))
			assertVerdict(t, v, NotPullable, ClassPlatformMissing, nil, nil)
			if ic, ok := c.indexes.Get(many[i].String()); ok {
				heaviest = max(heaviest, indexWeight("", ic.(indexChildren)))
			}
			// A new tag of the ordinary index: a verdict cache miss whose index is cached.
			assertVerdict(t, check(fmt.Sprintf("good.example.com/team/app:v%d", i+1)), Pullable, ClassOK, nil, nil)
		}
		if gets := good.Count(testregistry.KindManifestGet) - goodGets; gets != 0 {
			t.Errorf("the ordinary index was read again %d times: its cache entry was evicted", gets)
		}
		t.Logf("hostile indexes weigh up to %d bytes; %d held weigh %d", heaviest, c.indexes.Len(), c.indexes.Bytes())
		if heaviest*indexFlood <= opts.IndexCacheBytes || c.indexes.Len() > indexFlood {
			t.Errorf("hostile indexes weigh up to %d bytes each, %d held: the flood did not need eviction", heaviest, c.indexes.Len())
		}
	})
}
