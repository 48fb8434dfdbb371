package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/bench"
)

// BenchmarkAdmissionTLS posts the review of a three-container Deployment over TLS to the
// webhook's own server: "pullguard" is the real handler with a warm verdict cache, "noop" a
// handler that allows at once on the same server. Compare the two with benchstat; cmd/benchtable
// reports their throughput ratio measured interleaved.
func BenchmarkAdmissionTLS(b *testing.B) {
	ctx, e := throughputEnv(b, 64)
	for name, admit := range map[string]func(context.Context) error{"pullguard": e.AdmitPullguard, "noop": e.AdmitNoop} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := admit(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkAdmissionTLSRatio reports the interleaved throughput ratio itself (pullguard/no-op,
// target >= 0.9) at 8 concurrent clients, one measurement of about a second per iteration.
func BenchmarkAdmissionTLSRatio(b *testing.B) {
	ctx, e := throughputEnv(b, 8)
	var sum float64
	for b.Loop() {
		r := e.MeasureThroughput(ctx, 8, time.Second)
		if r.Errors > 0 {
			b.Fatalf("%d failed reviews", r.Errors)
		}
		sum += r.Ratio()
	}
	b.ReportMetric(sum/float64(b.N), "pullguard/noop")
}

// BenchmarkCacheMemory100k fills the default 100,000-entry verdict cache and reports the heap
// it holds and the resident set of the benchmark process once freed memory is returned (which
// includes the benchmark binary itself and whatever earlier benchmarks left).
func BenchmarkCacheMemory100k(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for b.Loop() {
		m, err := bench.MeasureCacheMemory(ctx, 100_000)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(m.HeapDelta())/(1<<20), "heap-MiB")
		b.ReportMetric(float64(m.HeapDelta())/float64(m.Entries), "heap-B/entry")
		b.ReportMetric(float64(m.HeldRSS)/(1<<20), "held-rss-MiB")
	}
}

// throughputEnv starts the in-process admission server for clients, stopped when b ends, and
// the context that bounds the benchmark.
func throughputEnv(b *testing.B, clients int) (context.Context, *bench.ThroughputEnv) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)
	e, err := bench.StartThroughputEnv(ctx, clients)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Close)
	return ctx, e
}

// BenchmarkAdmissionFloor takes a warm admission of BenchmarkAdmissionTLS's review apart, without
// HTTP: "handle" is everything pullguard's handler adds to the no-op handler, "decode" and
// "lookups" the part of it no decision can skip (decoding the object's pod spec, one verdict
// cache lookup per image).
func BenchmarkAdmissionFloor(b *testing.B) {
	ctx, e := throughputEnv(b, 1)
	parts, err := e.Floor()
	if err != nil {
		b.Fatal(err)
	}
	for name, run := range map[string]func() error{
		"handle":  func() error { return parts.Handle(ctx) },
		"decode":  parts.Decode,
		"lookups": parts.Lookups,
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
