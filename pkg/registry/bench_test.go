package registry

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/testregistry"
	"github.com/pullguard/pullguard/pkg/registry/egress"
)

// The benchmarks run against a loopback registry with the Bearer token flow. Compare
// BenchmarkCheckCold with BenchmarkBareHead (same sub-benchmark names) for the engine's overhead
// over the physical limit: the same TLS handshake, ping, token fetch and HEAD.

const benchImage = "reg.example.com/team/app:v1"

func benchEnv(b *testing.B) (*env, *testregistry.Registry, Request) {
	b.Helper()
	e := newEnv(b)
	reg := tokenRegistry(b, e, "v1")
	return e, reg, Request{Image: benchImage, Keyring: keyringOf(aliceSecret())}
}

func benchCheck(b *testing.B, c *Checker, req Request) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if v := c.Check(ctx, req); v.Outcome != Pullable {
		b.Fatalf("%s/%s: %s", v.Outcome, v.Class, v.Message())
	}
}

// BenchmarkCheckWarm is an admission for an image checked moments ago: a verdict cache hit.
func BenchmarkCheckWarm(b *testing.B) {
	e, _, req := benchEnv(b)
	c := e.checker(e.options())
	benchCheck(b, c, req)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		benchCheck(b, c, req)
	}
}

// BenchmarkCheckCold: "fresh" is the first check of a new Checker (new connection, ping,
// token, HEAD; building the Checker is not timed); "warmToken" misses the verdict cache but
// reuses the connection and the token (one HEAD).
func BenchmarkCheckCold(b *testing.B) {
	b.Run("fresh", func(b *testing.B) {
		e, _, req := benchEnv(b)
		opts := e.options()
		checkers := make([]*Checker, b.N)
		for i := range checkers {
			checkers[i] = e.checker(opts)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			benchCheck(b, checkers[i], req)
		}
	})
	b.Run("warmToken", func(b *testing.B) {
		e, _, req := benchEnv(b)
		opts := e.options()
		opts.PositiveTTL = 0
		c := e.checker(opts)
		benchCheck(b, c, req)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			benchCheck(b, c, req)
		}
	})
}

// BenchmarkBareHead is go-containerregistry's remote.Head with the same credentials and the same
// guarded transport, and nothing else: the floor BenchmarkCheckCold is measured against.
func BenchmarkBareHead(b *testing.B) {
	auth := authn.FromConfig(authn.AuthConfig{Username: "alice", Password: "right"})
	ref, err := name.ParseReference(benchImage)
	if err != nil {
		b.Fatal(err)
	}
	head := func(b *testing.B, opts ...remote.Option) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := remote.Head(ref, append(opts, remote.WithContext(ctx))...); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("fresh", func(b *testing.B) {
		e, _, _ := benchEnv(b)
		opts := e.options()
		transports := make([]http.RoundTripper, b.N)
		for i := range transports {
			if transports[i], err = egress.New(opts.Egress, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			head(b, remote.WithTransport(transports[i]), remote.WithAuth(auth))
		}
	})
	b.Run("warmToken", func(b *testing.B) {
		e, _, _ := benchEnv(b)
		rt, err := egress.New(e.options().Egress, nil)
		if err != nil {
			b.Fatal(err)
		}
		puller, err := remote.NewPuller(remote.WithTransport(rt), remote.WithAuth(auth))
		if err != nil {
			b.Fatal(err)
		}
		head(b, remote.Reuse(puller))
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			head(b, remote.Reuse(puller))
		}
	})
}

// BenchmarkConcurrentIdenticalCold is 500 admissions of the same new image at once, against a
// fresh Checker each time; it reports the upstream manifest requests each burst costs (1).
func BenchmarkConcurrentIdenticalCold(b *testing.B) {
	e, reg, req := benchEnv(b)
	opts := e.options()
	const callers = 500
	reg.ResetCounts()
	for b.Loop() {
		c := e.checker(opts)
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() { benchCheck(b, c, req) })
		}
		wg.Wait()
	}
	manifests := reg.Count(testregistry.KindManifestHead) + reg.Count(testregistry.KindManifestGet)
	b.ReportMetric(float64(manifests)/float64(b.N), "manifest-requests/op")
}

// BenchmarkFanOutCold is one admission of a pod with 10 new images in 10 repositories of one
// Bearer registry, read with one credential, checked at once on a fresh Checker: "alone" as
// without a Batch (a ping and a token per repository), "batch" with one (one ping, one token
// request with 10 scopes). It reports the pings and token requests each admission costs. On an
// HTTP/1.1 registry each concurrent request still needs a TLS connection of its own; "/h2" is the
// same on a registry that offers HTTP/2, as the distribution registry serving TLS does, where
// they share one.
func BenchmarkFanOutCold(b *testing.B) {
	const n = 10
	for _, tc := range []struct {
		name           string
		batched, http2 bool
	}{{"alone", false, false}, {"batch", true, false}, {"alone/h2", false, true}, {"batch/h2", true, true}} {
		batched := tc.batched
		b.Run(tc.name, func(b *testing.B) {
			e := newEnv(b)
			r := e.registry(testregistry.Config{Auth: testregistry.AuthBearer, Users: map[string]string{"alice": "right"}, HTTP2: tc.http2}, "reg.example.com")
			var images []string
			for i := range n {
				push(b, r, fmt.Sprintf("team/fan%d:v1", i))
				images = append(images, fmt.Sprintf("reg.example.com/team/fan%d:v1", i))
			}
			kr := keyringOf(aliceSecret())
			opts := e.options()
			checkers := make([]*Checker, b.N)
			for i := range checkers {
				checkers[i] = e.checker(opts)
			}
			r.ResetCounts()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				var batch *Batch
				if batched {
					batch = NewBatch(images, kr)
				}
				var wg sync.WaitGroup
				for _, image := range images {
					wg.Go(func() { benchCheck(b, checkers[i], Request{Image: image, Keyring: kr, Batch: batch}) })
				}
				wg.Wait()
			}
			b.StopTimer()
			b.ReportMetric(float64(r.Count(testregistry.KindPing))/float64(b.N), "pings/op")
			b.ReportMetric(float64(r.Count(testregistry.KindToken))/float64(b.N), "tokens/op")
		})
	}
}
