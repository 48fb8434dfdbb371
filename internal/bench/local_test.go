package bench

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestHermeticDNS(t *testing.T) {
	InstallHermeticDNS()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := net.DefaultResolver.LookupNetIP(ctx, "ip", "registry.pullguard-bench.test")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("lookup of an unknown name: %v, want NXDOMAIN", err)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", "localhost")
	if err != nil || len(addrs) == 0 {
		t.Fatalf("localhost: %v %v, want /etc/hosts to answer", addrs, err)
	}
}

// TestInProcessMeasurements runs the in-process measurements at a tiny scale, so that `make
// test` keeps them working; `make bench` runs them at full scale.
func TestInProcessMeasurements(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := StartThroughputEnv(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	r := e.MeasureThroughput(ctx, 4, 400*time.Millisecond)
	if r.Errors > 0 || r.Pullguard <= 0 || r.Noop <= 0 {
		t.Fatalf("throughput: %+v", r)
	}
	t.Logf("throughput %s, ratio %.2f", r, r.Ratio())

	h, err := e.MeasureHostileObjects(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("hostile objects: %d images (%d B) p50 %s, %d secret names (%d B) p50 %s; ordinary p50 %s",
		h.Images, h.Bytes[0], h.ManyImages.P50(), h.Secrets, h.Bytes[1], h.ManySecrets.P50(), h.Ordinary.P50())

	m, err := MeasureCacheMemory(ctx, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if m.Cached != m.Sampled || m.HeapDelta() == 0 {
		t.Fatalf("memory: %+v", m)
	}
	t.Logf("2000 verdicts: %s heap (%d B/entry), RSS %s", MiB(m.HeapDelta()), m.HeapDelta()/uint64(m.Entries), MiB(m.RSS))
}

// TestReverifyScan runs the re-verifier scan row at a small size: one manifest request per
// distinct image, a Report per workload, paced by the per-host budget.
func TestReverifyScan(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := MeasureReverifyScan(ctx, 200, 40, 200)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 40 {
		t.Errorf("%d manifest requests for 40 images", r.Requests)
	}
	if r.Took < r.BudgetMinimum() {
		t.Errorf("the scan took %s, less than the budget allows (%s)", r.Took, r.BudgetMinimum())
	}
	t.Logf("%d workloads, %d images: %d requests in %s (budget minimum %s, ratio %.2f), peak RSS %s, heap %s",
		r.Workloads, r.Images, r.Requests, r.Took, r.BudgetMinimum(), r.Ratio(), MiB(r.PeakRSS), MiB(r.Heap))
}
