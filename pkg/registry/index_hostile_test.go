package registry

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/internal/testregistry"
)

// rawIndex is an image index of n children that have nothing but a platform, platform(i), in
// as few bytes as the format allows.
func rawIndex(n int, platform func(i int) (os, arch string)) []byte {
	var b strings.Builder
	b.WriteString(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		os, arch := platform(i)
		fmt.Fprintf(&b, `{"platform":{"architecture":%q,"os":%q}}`, arch, os)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// hostileIndex is an image index of n children with distinct platforms (85,000 fit under the
// 4 MiB manifest cap), optionally with a linux/amd64 child first.
func hostileIndex(n int, withAMD64 bool) []byte {
	if !withAMD64 {
		return rawIndex(n, func(i int) (string, string) { return "o", fmt.Sprintf("a%d", i) })
	}
	return rawIndex(n+1, func(i int) (string, string) {
		if i == 0 {
			return "linux", "amd64"
		}
		return "o", fmt.Sprintf("a%d", i-1)
	})
}

const hostileChildren = 85_000

func hostileIndexEnv(tb testing.TB, withAMD64 bool) (*env, Request) {
	e := newEnv(tb)
	r := e.registry(testregistry.Config{}, "reg.example.com")
	body := hostileIndex(hostileChildren, withAMD64)
	if len(body) > 4<<20 {
		tb.Fatalf("index is %d bytes, over the 4 MiB cap", len(body))
	}
	if _, err := r.PushManifest("team/app", "v1", types.OCIImageIndex, body); err != nil {
		tb.Fatal(err)
	}
	return e, Request{Image: "reg.example.com/team/app:v1", Platforms: ociPlats("linux/amd64", "linux/arm64")}
}

// BenchmarkHostileIndex is one cold check (new Checker: nothing cached) of an image whose index
// lists 85,000 children with distinct platforms, none of them a candidate's; it reports the
// heap the Checker retains after the check (the index cache entry).
func BenchmarkHostileIndex(b *testing.B) {
	e, req := hostileIndexEnv(b, false)
	opts := e.options()
	var retained uint64
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c := e.checker(opts)
		b.StartTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		v := c.Check(ctx, req)
		cancel()
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if after.HeapAlloc > before.HeapAlloc {
			retained += after.HeapAlloc - before.HeapAlloc
		}
		b.ReportMetric(float64(len(v.Message())), "message-bytes")
		runtime.KeepAlive(c)
		b.StartTimer()
	}
	b.ReportMetric(float64(retained)/float64(b.N), "retained-B/op")
}

// TestHostileIndex checks an index of 85,000 children with distinct platforms: only the first
// MaxIndexChildren are read, the verdict says so without listing them all, a platform found
// among them is still pullable, and the cache keeps only what was read.
func TestHostileIndex(t *testing.T) {
	tests := map[string]struct {
		withAMD64   bool
		wantOutcome Outcome
		wantWords   []string
	}{
		"no candidate platform among the entries read": {
			wantOutcome: Unverifiable,
			wantWords:   []string{"lists 85000 manifests", "reads the first 1000", "no linux/amd64 or linux/arm64 manifest", "and 984 more"},
		},
		"a candidate platform among the entries read": {
			withAMD64: true, wantOutcome: Pullable,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e, req := hostileIndexEnv(t, tc.withAMD64)
			c := e.checker(e.options())
			v := c.Check(ctxTimeout(t, 60*time.Second), req)
			if v.Outcome != tc.wantOutcome {
				t.Fatalf("verdict %s/%s: %s", v.Outcome, v.Class, v.Message())
			}
			text := v.Message() + strings.Join(v.Notes, "; ")
			for _, w := range tc.wantWords {
				if !strings.Contains(text, w) {
					t.Errorf("message lacks %q: %s", w, text)
				}
			}
			if len(text) > 2048 {
				t.Errorf("message and notes are %d bytes", len(text))
			}
			if tc.withAMD64 && !strings.Contains(text, "no linux/arm64 manifest among them") {
				t.Errorf("notes do not say arm64 was not verified: %q", v.Notes)
			}
			if cached, ok := c.indexes.Get(v.Digest); !ok || len(cached.(indexChildren).platforms) > 1000 {
				t.Errorf("index cache entry for %s: %v; want at most 1000 platforms", v.Digest, ok)
			}
		})
	}
}

// largeSecret is a 1 MiB pull secret of 55,000 keys, none for reg.example.com.
func largeSecret() corev1.Secret {
	auths := make(map[string]entry, 55_000)
	for i := range 55_000 {
		auths[fmt.Sprintf("r%d.example.org", i)] = entry{auth: "dTpw"}
	}
	return dockerSecret("huge", auths)
}

// BenchmarkLargeSecretCachedCheck is a verdict cache hit for a pod whose one pull secret is
// 1 MiB of keys that do not match the image: the keyring's explanation must not be paid again.
func BenchmarkLargeSecretCachedCheck(b *testing.B) {
	e := newEnv(b)
	r := e.registry(testregistry.Config{}, "reg.example.com")
	push(b, r, "team/app:v1")
	c := e.checker(e.options())
	req := Request{Image: "reg.example.com/team/app:v1", Keyring: keyringOf(largeSecret()), TrustedCaller: true}
	benchCheck(b, c, req)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		benchCheck(b, c, req)
	}
}

// TestLargeSecret: the explanation of a 1 MiB secret that does not match lists a bounded
// number of its keys, and every text of the verdict is bounded.
func TestLargeSecret(t *testing.T) {
	e := newEnv(t)
	tokenRegistry(t, e, "v1")
	c := e.checker(e.options())
	v := c.Check(ctxTimeout(t, 60*time.Second), Request{Image: "reg.example.com/team/app:v1", Keyring: keyringOf(largeSecret()), TrustedCaller: true})
	assertVerdict(t, v, NotPullable, ClassUnauthorized, []string{`has entries for [`, "and 54984 more] but none match reg.example.com/team/app"}, nil)
	for _, s := range append([]string{v.Detail, v.Fix}, v.Notes...) {
		if n := len([]rune(s)); n > DefaultLimits().MaxMessageRunes {
			t.Errorf("text of %d runes: %.200s…", n, s)
		}
	}
}
