package bench

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/pkg/registry"
)

// anyTagManifest is a valid single-platform OCI manifest that anyTagRegistry serves for every
// tag of every repository.
const anyTagManifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
	`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},` +
	`"layers":[]}`

// anyTagRegistry answers the registry API's ping and serves anyTagManifest for any manifest
// reference, so that a benchmark can check as many distinct images as it likes without pushing
// them. It counts the manifest requests it serves.
type anyTagRegistry struct {
	manifests atomic.Int64
}

func (a *anyTagRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/" {
		w.WriteHeader(http.StatusOK)
		return
	}
	if !strings.Contains(r.URL.Path, "/manifests/") || (r.Method != http.MethodHead && r.Method != http.MethodGet) {
		http.NotFound(w, r)
		return
	}
	a.manifests.Add(1)
	sum := sha256.Sum256([]byte(anyTagManifest))
	w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	w.Header().Set("Docker-Content-Digest", "sha256:"+hex.EncodeToString(sum[:]))
	w.Header().Set("Content-Length", strconv.Itoa(len(anyTagManifest)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte(anyTagManifest))
	}
}

// MemoryResult is the memory the webhook's registry engine holds with a full verdict cache.
type MemoryResult struct {
	Entries int
	// HeapBefore and HeapAfter are live heap bytes (after a GC) with an empty and a full cache.
	HeapBefore, HeapAfter uint64
	// RSS is the process's resident set right after filling; PeakRSS its high-water mark, set
	// during the fill, when the garbage of tens of thousands of checks a second lets the heap
	// grow to twice the live data before the collector runs (GOGC).
	RSS, PeakRSS uint64
	// HeldRSS is the resident set once the collector has returned freed memory to the system:
	// what holding the full cache costs a process at rest. StartRSS is the same with one
	// verdict cached: the binary, the runtime and the engine before the fill.
	HeldRSS, StartRSS uint64
	// HeapInuse is the heap's in-use spans at that point: above the live heap by the spans that
	// keep a few cache entries among freed request garbage (fragmentation).
	HeapInuse uint64
	// Cached is how many of a sample of the checked images were answered from the cache.
	Cached, Sampled int
	Took            time.Duration
}

// HeapDelta is the heap the cache entries hold.
func (m MemoryResult) HeapDelta() uint64 { return m.HeapAfter - min(m.HeapAfter, m.HeapBefore) }

// MeasureCacheMemory fills a registry engine with the webhook's default options (a 100,000-entry
// verdict cache) with n distinct Pullable verdicts, checked over TLS against anyTagRegistry,
// then measures the heap and the process's RSS. Run it in a fresh process for an RSS that
// holds nothing else (cmd/benchtable does).
func MeasureCacheMemory(ctx context.Context, n int) (MemoryResult, error) {
	dir, cleanup, err := tempDir("pullguard-bench-mem-")
	if err != nil {
		return MemoryResult{}, err
	}
	defer cleanup()
	l, err := testbed.NewLoopbackTLS(dir)
	if err != nil {
		return MemoryResult{}, err
	}
	reg := &anyTagRegistry{}
	srv := startTLSServer(reg, l.Pair)
	defer srv.Close()
	host := srv.Listener.Addr().String()
	opts := engineOptions(l.CAFile)
	if n > opts.CacheSize {
		return MemoryResult{}, fmt.Errorf("%d entries do not fit the default %d-entry cache", n, opts.CacheSize)
	}
	checker, err := registry.New(opts)
	if err != nil {
		return MemoryResult{}, fmt.Errorf("creating the registry engine: %w", err)
	}
	image := func(i int) string { return cacheImage(host, i) }
	check := func(i int) (registry.Verdict, error) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		v := checker.Check(cctx, registry.Request{Image: image(i)})
		if v.Outcome != registry.Pullable {
			return v, fmt.Errorf("%s: %s/%s: %s", image(i), v.Outcome, v.Class, v.Message())
		}
		return v, nil
	}
	if _, err := check(0); err != nil {
		return MemoryResult{}, err
	}
	res := MemoryResult{Entries: n, HeapBefore: liveHeap()}
	debug.FreeOSMemory()
	res.StartRSS, _ = processRSS(os.Getpid())
	start := time.Now()
	if err := parallel(ctx, 1, n, 32, func(i int) error {
		_, err := check(i)
		return err
	}); err != nil {
		return res, err
	}
	res.Took = time.Since(start)
	srv.CloseClientConnections()
	res.HeapAfter = liveHeap()
	res.RSS, res.PeakRSS = processRSS(os.Getpid())
	before := reg.manifests.Load()
	for i := 0; i < n; i += max(n/1000, 1) {
		v, err := check(i)
		if err != nil {
			return res, err
		}
		res.Sampled++
		if v.Cached {
			res.Cached++
		}
	}
	if after := reg.manifests.Load(); after != before {
		return res, fmt.Errorf("%d of %d sampled checks went to the registry: the cache did not hold every verdict", after-before, res.Sampled)
	}
	debug.FreeOSMemory()
	res.HeldRSS, _ = processRSS(os.Getpid())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapInuse = ms.HeapInuse
	runtime.KeepAlive(checker)
	return res, nil
}

// cacheImage is the i-th distinct image of a cache fill on host: images spread over 100
// repositories, as a cluster's images spread over a few registries' repositories with many
// tags each.
func cacheImage(host string, i int) string {
	return fmt.Sprintf("%s/team/app-%02d:build-%06d", host, i%100, i)
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// processRSS reads the resident set size and its high-water mark (VmHWM) of a process from
// /proc; zeros where /proc is not available.
func processRSS(pid int) (rss, peak uint64) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch key {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak
}

// MiB formats bytes in mebibytes.
func MiB(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
