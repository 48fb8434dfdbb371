// Command benchtable runs pullguard's measurements (package bench) and prints one table: each
// row a ratio measured in one run against its baseline, with the target and whether it was met.
// `make bench` runs it; docs/benchmarks.md records a run.
//
// The API-server rows need the test-bed binaries (make tools) through the environment the
// Makefile sets. Everything listens on loopback and no name is resolved through the machine's
// DNS. -scale shrinks every count for a quick try.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/pullguard/pullguard/internal/bench"
	"github.com/pullguard/pullguard/internal/testbed"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "benchtable: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	scale         float64
	webhookBinary string
	timeout       time.Duration
	child         string
	entries       int
	// only names one API-server row to measure alone ("" : the whole table).
	only string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("benchtable", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&o.scale, "scale", 1, "Multiplier for every count (0 < scale <= 1); 1 is the size docs/benchmarks.md records.")
	fs.StringVar(&o.webhookBinary, "webhook-binary", "", "Webhook binary to serve the mixed load from, so that its peak RSS is its own (empty: the in-process webhook).")
	fs.DurationVar(&o.timeout, "timeout", 9*time.Minute, "Bound on the whole run.")
	fs.StringVar(&o.child, "child", "", "Internal: run one measurement in this fresh process and print it as JSON (memory).")
	fs.IntVar(&o.entries, "entries", 100_000, "Verdicts in the cache for the memory measurement.")
	fs.StringVar(&o.only, "only", "", `Measure one row alone: "check-manifests" (pullguard check of many manifests sharing few images), "fan-out", "fan-out-20ms", "throughput", "memory", "memory-webhook" (the webhook binary's own RSS with a full cache; needs -webhook-binary), "reverify" (a re-verifier scan of many workloads); empty: the whole table.`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.scale <= 0 || o.scale > 1 {
		return fmt.Errorf("-scale must be in (0, 1], got %v", o.scale)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.child == "memory" {
		m, err := bench.MeasureCacheMemory(ctx, o.entries)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(m)
	}
	if o.child == "reverify" {
		w, i := reverifySize(o.scale)
		r, err := bench.MeasureReverifyScan(ctx, w, i, reverifyHostQPS)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(r)
	}
	if o.child != "" {
		return fmt.Errorf("unknown -child %q", o.child)
	}
	// The webhook runs in this process for the fault rows; names must fail without asking the
	// machine's resolver.
	bench.InstallHermeticDNS()
	t := &table{o: o, progress: stderr}
	rows := t.measure(ctx)
	fmt.Fprintf(stdout, "pullguard bench (%s, %s/%s, %d CPUs, GOMAXPROCS %d, scale %v) %s\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), o.scale, time.Now().UTC().Format(time.RFC3339))
	if err := bench.WriteTable(stdout, rows); err != nil {
		return err
	}
	var errs []error
	for _, r := range rows {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Name, r.Err))
		}
	}
	return errors.Join(errs...)
}

type table struct {
	o        options
	progress io.Writer
}

func (t *table) logf(format string, args ...any) {
	fmt.Fprintf(t.progress, ">> "+format+"\n", args...)
}

// n scales a count, keeping at least minimum.
func (t *table) n(full, minimum int) int { return max(int(float64(full)*t.o.scale), minimum) }

func (t *table) measure(ctx context.Context) []bench.Row {
	if t.o.only != "" {
		return t.measureOnly(ctx)
	}
	rows := []bench.Row{t.memory(ctx), t.reverifyScan(ctx), t.hostileObjects(ctx)}
	start := time.Now()
	// The bed first: its in-process webhook installs the process's logger, which the throughput
	// measurement's handlers log through too.
	t.logf("starting the test bed")
	c, err := bench.StartCluster(ctx, t.progress)
	if err != nil {
		return append(rows, t.throughput(ctx), bench.Row{Name: "API-server measurements", Target: "all", Err: err})
	}
	defer func() {
		if err := c.Stop(); err != nil {
			t.logf("stopping the test bed: %v", err)
		}
	}()
	t.logf("test bed up in %s", time.Since(start).Round(time.Millisecond))
	rows = append(rows, t.throughput(ctx))
	rows = append(rows, t.overhead(ctx, c, 1, t.n(2000, 100)), t.overhead(ctx, c, 20, t.n(3000, 200)))
	rows = append(rows, t.cold(ctx, c), t.fanOut(ctx, c, 0), t.fanOut(ctx, c, 20*time.Millisecond))
	rows = append(rows, t.registryLoad(ctx, c)...)
	rows = append(rows, t.checkManifests(ctx, c))
	rows = append(rows, t.faults(ctx, c), t.webhookMemory(ctx, c))
	return append(rows, t.mixedLoad(ctx, c)...)
}

const mib = 1 << 20

// memoryTarget is the bound on the webhook's peak RSS.
const memoryTarget = 150 * mib

func (t *table) memory(ctx context.Context) bench.Row {
	entries := t.n(100_000, 1000)
	row := bench.Row{Name: fmt.Sprintf("Memory: %d cached verdicts (fresh process)", entries), Baseline: "target 150 MiB", Target: "RSS < 150 MiB"}
	t.logf("memory: filling the verdict cache with %d verdicts in a fresh process", entries)
	m, err := t.memoryChild(ctx, entries, "")
	if err != nil {
		row.Err = err
		return row
	}
	// The same fill with a soft memory limit, as a Deployment would set GOMEMLIMIT below its
	// container limit: how much of the burst's peak is collector headroom.
	limited, err := t.memoryChild(ctx, entries, "100MiB")
	if err != nil {
		row.Err = err
		return row
	}
	row.Result = fmt.Sprintf("RSS holding them %s (live heap %s, %d B/verdict; heap in use %s; the process before the fill %s); peak during the fill burst %s, %s with GOMEMLIMIT=100MiB",
		bench.MiB(m.HeldRSS), bench.MiB(m.HeapDelta()), m.HeapDelta()/uint64(m.Entries), bench.MiB(m.HeapInuse), bench.MiB(m.StartRSS), bench.MiB(m.PeakRSS), bench.MiB(limited.PeakRSS))
	row.Ratio = fmt.Sprintf("%.2f (peak %.2f)", float64(m.HeldRSS)/memoryTarget, float64(m.PeakRSS)/memoryTarget)
	row.Met = m.HeldRSS < memoryTarget
	return row
}

// webhookMemory measures the webhook binary itself, served through the API server, holding
// the verdicts the memory row holds: that row's process is the bench binary, which links the
// test bed.
func (t *table) webhookMemory(ctx context.Context, c *bench.Cluster) bench.Row {
	entries := t.n(100_000, 1000)
	row := bench.Row{
		Name:     fmt.Sprintf("Memory: webhook binary holding %d cached verdicts, admitted through the API server (no GOMEMLIMIT)", entries),
		Baseline: "target 150 MiB",
		Target:   "RSS < 150 MiB",
	}
	if t.o.webhookBinary == "" {
		row.Err = errors.New("needs -webhook-binary")
		return row
	}
	m, err := t.webhookMemoryOnce(ctx, c, entries)
	if err != nil {
		row.Err = err
		return row
	}
	// The same fill with the memory row's soft memory limit.
	limited, err := t.webhookMemoryOnce(ctx, c, entries, "GOMEMLIMIT=100MiB")
	if err != nil {
		row.Err = err
		return row
	}
	row.Result = fmt.Sprintf("RSS holding them %s 30s after the fill (%s right after; peak %s); at rest before the fill %s; with GOMEMLIMIT=100MiB held %s, peak %s",
		bench.MiB(m.HeldRSS), bench.MiB(m.FullRSS), bench.MiB(m.PeakRSS), bench.MiB(m.RestRSS), bench.MiB(limited.HeldRSS), bench.MiB(limited.PeakRSS))
	row.Ratio = fmt.Sprintf("%.2f (at rest %.2f; GOMEMLIMIT=100MiB %.2f)", float64(m.HeldRSS)/memoryTarget, float64(m.RestRSS)/memoryTarget, float64(limited.HeldRSS)/memoryTarget)
	row.Met = m.HeldRSS > 0 && m.HeldRSS < memoryTarget
	return row
}

// webhookMemoryOnce swaps in a fresh webhook binary process with env and fills its cache.
func (t *table) webhookMemoryOnce(ctx context.Context, c *bench.Cluster, entries int, env ...string) (bench.WebhookMemoryResult, error) {
	t.logf("webhook memory: swapping in %s %v and filling its cache with %d verdicts", t.o.webhookBinary, env, entries)
	p, err := c.SwapInWebhookBinary(ctx, t.o.webhookBinary, env...)
	if err != nil {
		return bench.WebhookMemoryResult{}, err
	}
	defer func() {
		if err := p.Stop(); err != nil {
			t.logf("stopping the webhook binary: %v", err)
		}
	}()
	return c.MeasureWebhookMemory(ctx, p, entries, 30*time.Second)
}

// memoryChild runs MeasureCacheMemory in a fresh process of this binary, so that the resident
// set holds nothing else, with GOMEMLIMIT=memLimit when set.
func (t *table) memoryChild(ctx context.Context, entries int, memLimit string) (bench.MemoryResult, error) {
	return runChild[bench.MemoryResult](ctx, append(os.Environ(), "GOMEMLIMIT="+memLimit), "-child=memory", fmt.Sprintf("-entries=%d", entries))
}

// runChild runs this binary with args and env (nil: this process's) and decodes the JSON it
// prints.
func runChild[T any](ctx context.Context, env []string, args ...string) (T, error) {
	var v T
	self, err := os.Executable()
	if err != nil {
		return v, err
	}
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if env != nil {
		cmd.Env = env
	}
	if err := cmd.Run(); err != nil {
		return v, fmt.Errorf("%w: %s", err, strings.TrimSpace(errOut.String()))
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		return v, fmt.Errorf("decoding %q: %w", out.String(), err)
	}
	return v, nil
}

// reverifyHostQPS is the per-host budget of the re-verifier scan row: the default (5/s) would
// make a 2,000-image scan last 400 s; the row measures how close the scan comes to the budget's
// minimum, whatever the budget.
const reverifyHostQPS = 500

// reverifyMemoryTarget is the bound on the re-verifier's peak RSS.
const reverifyMemoryTarget = 200 * mib

// reverifySize is the re-verifier scan row's workloads and distinct images at scale.
func reverifySize(scale float64) (workloads, images int) {
	return max(int(10_000*scale), 100), max(int(2_000*scale), 20)
}

func (t *table) reverifyScan(ctx context.Context) bench.Row {
	workloads, images := reverifySize(t.o.scale)
	row := bench.Row{
		Name: fmt.Sprintf("Re-verifier scan: %d Deployments sharing %d images (fake API objects, loopback registry, host budget %d/s burst 10, fresh process)",
			workloads, images, reverifyHostQPS),
		Target: fmt.Sprintf("%d manifest requests; peak RSS < 200 MiB", images),
	}
	t.logf("reverify: one scan of %d workloads sharing %d images in a fresh process", workloads, images)
	r, err := runChild[bench.ReverifyScanResult](ctx, nil, "-child=reverify", fmt.Sprintf("-scale=%v", t.o.scale))
	if err != nil {
		row.Err = err
		return row
	}
	row.Result = fmt.Sprintf("%d manifest requests, %d Reports, scan %s; peak RSS during the scan %s (before it %s, of which the process's start %s), live heap after %s",
		r.Requests, r.Reports, dur(r.Took), bench.MiB(r.PeakRSS), bench.MiB(r.ReadyRSS), bench.MiB(r.StartRSS), bench.MiB(r.Heap))
	row.Baseline = fmt.Sprintf("%d images; the budget's minimum (%d-10)/%d/s = %s; target 200 MiB", images, images, reverifyHostQPS, dur(r.BudgetMinimum()))
	row.Ratio = fmt.Sprintf("%.2f requests/image; time %.2f x minimum; RSS %.2f", float64(r.Requests)/float64(images), r.Ratio(), float64(r.PeakRSS)/reverifyMemoryTarget)
	row.Met = r.Requests == int64(images) && r.Took >= r.BudgetMinimum() && r.PeakRSS > 0 && r.PeakRSS < reverifyMemoryTarget
	return row
}

func (t *table) throughput(ctx context.Context) bench.Row {
	const clients = 16
	row := bench.Row{Name: fmt.Sprintf("Throughput: AdmissionReviews/s over TLS to /validate, warm cache, %d clients", clients), Target: ">= 0.90"}
	t.logf("throughput: pullguard vs a no-op handler on the webhook's own server")
	e, err := bench.StartThroughputEnv(ctx, clients)
	if err != nil {
		row.Err = err
		return row
	}
	defer e.Close()
	r := e.MeasureThroughput(ctx, clients, time.Duration(float64(20*time.Second)*t.o.scale))
	if r.Errors > 0 {
		row.Err = fmt.Errorf("%d reviews failed", r.Errors)
		return row
	}
	row.Result = fmt.Sprintf("pullguard %.0f/s", r.Pullguard)
	row.Baseline = fmt.Sprintf("no-op handler, same server: %.0f/s", r.Noop)
	row.Ratio = fmt.Sprintf("%.2f", r.Ratio())
	row.Met = r.Ratio() >= 0.9
	return row
}

func (t *table) hostileObjects(ctx context.Context) bench.Row {
	row := bench.Row{
		Name:     "Hostile Deployment of ~3 MiB (the largest object the API server accepts: distinct images, or pull secret names) vs an ordinary 3-container one, over TLS to /validate",
		Baseline: "ordinary Deployment, same server; webhook budget 8s",
		Target:   "allowed with one warning, p99 inside the budget",
	}
	t.logf("hostile objects: ~3 MiB Deployments vs an ordinary one")
	e, err := bench.StartThroughputEnv(ctx, 1)
	if err != nil {
		row.Err = err
		return row
	}
	defer e.Close()
	r, err := e.MeasureHostileObjects(ctx, t.n(30, 5))
	if err != nil {
		row.Err = err
		return row
	}
	slowest := max(r.ManyImages.P99(), r.ManySecrets.P99())
	row.Result = fmt.Sprintf("%d images (%s) p50 %s p99 %s; %d secret names (%s) p50 %s p99 %s",
		r.Images, bench.MiB(uint64(r.Bytes[0])), r.ManyImages.P50().Round(time.Millisecond), r.ManyImages.P99().Round(time.Millisecond),
		r.Secrets, bench.MiB(uint64(r.Bytes[1])), r.ManySecrets.P50().Round(time.Millisecond), r.ManySecrets.P99().Round(time.Millisecond))
	row.Baseline = fmt.Sprintf("ordinary p50 %s; webhook budget 8s", r.Ordinary.P50().Round(10*time.Microsecond))
	row.Ratio = fmt.Sprintf("%.3f (slowest p99/budget; hostile p50 %.0fx ordinary)", float64(slowest)/float64(budget),
		float64(max(r.ManyImages.P50(), r.ManySecrets.P50()))/float64(r.Ordinary.P50()))
	row.Met = slowest < budget
	return row
}

func (t *table) overhead(ctx context.Context, c *bench.Cluster, clients, perVariant int) bench.Row {
	row := bench.Row{
		Name:   fmt.Sprintf("Admission overhead p99, %d client(s): dry-run 3-container Deployment, warm cache", clients),
		Target: "p99 <= 1.10x no-op",
	}
	t.logf("overhead: %d clients x %d admissions per variant", clients, perVariant)
	r := c.MeasureOverhead(ctx, clients, perVariant)
	if r.Errors > 0 {
		row.Err = fmt.Errorf("%d admissions failed, first: %w", r.Errors, r.FirstErr)
		return row
	}
	p, n, none := r.Latencies[bench.WithPullguard], r.Latencies[bench.WithNoop], r.Latencies[bench.WithoutWebhook]
	row.Result = fmt.Sprintf("pullguard p50 %s p99 %s", dur(p.P50()), dur(p.P99()))
	row.Baseline = fmt.Sprintf("no-op webhook p50 %s p99 %s; no webhook p50 %s p99 %s", dur(n.P50()), dur(n.P99()), dur(none.P50()), dur(none.P99()))
	row.Ratio = fmt.Sprintf("%.2f (p50 %.2f)", r.P99Ratio(), r.P50Ratio())
	row.Met = r.P99Ratio() <= 1.1
	return row
}

func (t *table) cold(ctx context.Context, c *bench.Cluster) bench.Row {
	row := bench.Row{Name: "Cold check vs one bare authenticated HEAD (Bearer registry, token fetch on both sides)", Target: "<= 1.20"}
	iterations := t.n(40, 6)
	t.logf("cold check: %d iterations", iterations)
	r, err := c.MeasureColdCheck(ctx, iterations)
	if err != nil {
		row.Err = err
		return row
	}
	row.Result = fmt.Sprintf("fresh engine to verdict p50 %s", dur(r.Check.P50()))
	row.Baseline = fmt.Sprintf("remote.Head, fresh transport, p50 %s", dur(r.Head.P50()))
	row.Ratio = fmt.Sprintf("%.2f", r.Ratio())
	row.Met = r.Ratio() <= 1.2
	return row
}

func (t *table) fanOut(ctx context.Context, c *bench.Cluster, rtt time.Duration) bench.Row {
	where := "loopback"
	if rtt > 0 {
		where = fmt.Sprintf("%s added to every registry and token request", rtt)
	}
	row := bench.Row{Name: "Pod with 10 distinct new images vs the slowest single check (" + where + ")", Target: "<= 1.50"}
	iterations := t.n(12, 3)
	t.logf("fan-out (%s): %d iterations", where, iterations)
	r, err := c.MeasureFanOut(ctx, 10, iterations, rtt)
	if err != nil {
		row.Err = err
		return row
	}
	pod, single := r.PerImage(r.PodCPU), r.PerImage(r.SingleCPU)
	row.Result = fmt.Sprintf("10-image pod p50 %s; CPU per image: this process (engine, bed front, token service) %s, registry %s; machine %.2f CPUs busy",
		dur(r.Pod.P50()), dur(pod.Self), dur(pod.Registry), r.PodCPU.Cores())
	row.Baseline = fmt.Sprintf("slowest of 10 one-image pods p50 %s (all 10 in series: %s); CPU per one-image pod: this process %s, registry %s; machine %.2f CPUs busy",
		dur(r.Slowest.P50()), dur(r.Sum.P50()), dur(single.Self), dur(single.Registry), r.SingleCPU.Cores())
	row.Ratio = fmt.Sprintf("%.2f", r.Ratio())
	row.Met = r.Ratio() <= 1.5
	return row
}

func (t *table) registryLoad(ctx context.Context, c *bench.Cluster) []bench.Row {
	admissions := t.n(1000, 100)
	shared := bench.Row{Name: fmt.Sprintf("Registry load: %d admissions of pods sharing 3 new images (20 clients, within TTL)", admissions), Target: "<= 3 manifest requests"}
	t.logf("registry load: %d admissions sharing 3 images", admissions)
	if r, err := c.MeasureSharedImages(ctx, admissions, 20); err != nil || r.Errors > 0 {
		shared.Err = errors.Join(err, r.FirstErr)
	} else {
		shared.Result = fmt.Sprintf("%d manifest + %d token requests at the registry", r.Requests.Manifests, r.Requests.Tokens)
		shared.Baseline = "3 images"
		shared.Ratio = fmt.Sprintf("%.2f manifest requests/image", float64(r.Requests.Manifests)/3)
		shared.Met = r.Requests.Manifests <= 3
	}
	concurrent := t.n(200, 50)
	identical := bench.Row{Name: fmt.Sprintf("Registry load: %d concurrent identical cold admissions", concurrent), Target: "1 manifest request"}
	t.logf("registry load: %d identical cold admissions at once", concurrent)
	if r, err := c.MeasureIdenticalCold(ctx, concurrent); err != nil || r.Errors > 0 {
		identical.Err = errors.Join(err, r.FirstErr)
	} else {
		identical.Result = fmt.Sprintf("%d manifest + %d token requests at the registry in %s", r.Requests.Manifests, r.Requests.Tokens, dur(r.Took))
		identical.Baseline = "1 image"
		identical.Ratio = fmt.Sprintf("%.2f manifest requests/image", float64(r.Requests.Manifests))
		identical.Met = r.Requests.Manifests == 1
	}
	return []bench.Row{shared, identical}
}

// onlyRows are the rows -only can name.
var onlyRows = map[string]func(*table, context.Context, *bench.Cluster) bench.Row{
	"check-manifests": (*table).checkManifests,
	"fan-out":         func(t *table, ctx context.Context, c *bench.Cluster) bench.Row { return t.fanOut(ctx, c, 0) },
	"memory-webhook":  (*table).webhookMemory,
	"fan-out-20ms": func(t *table, ctx context.Context, c *bench.Cluster) bench.Row {
		return t.fanOut(ctx, c, 20*time.Millisecond)
	},
}

// bedlessRows are the rows -only can name that need no test bed.
var bedlessRows = map[string]func(*table, context.Context) bench.Row{
	"memory":     (*table).memory,
	"throughput": (*table).throughput,
	"reverify":   (*table).reverifyScan, // in-process: no test bed
}

// measureOnly starts the bed and measures the one row -only names.
func (t *table) measureOnly(ctx context.Context) []bench.Row {
	if row, ok := bedlessRows[t.o.only]; ok {
		return []bench.Row{row(t, ctx)}
	}
	row, ok := onlyRows[t.o.only]
	if !ok {
		return []bench.Row{{Name: t.o.only, Err: fmt.Errorf("-only: no row %q", t.o.only)}}
	}
	c, err := bench.StartCluster(ctx, t.progress)
	if err != nil {
		return []bench.Row{{Name: t.o.only, Err: err}}
	}
	defer func() {
		if err := c.Stop(); err != nil {
			t.logf("stopping the test bed: %v", err)
		}
	}()
	return []bench.Row{row(t, ctx, c)}
}

func (t *table) checkManifests(ctx context.Context, c *bench.Cluster) bench.Row {
	manifests, images := t.n(500, 50), t.n(50, 5)
	row := bench.Row{
		Name:   fmt.Sprintf("pullguard check: %d manifests sharing %d new private images (fresh engine each run)", manifests, images),
		Target: fmt.Sprintf("<= %d manifest requests; <= 1.50x time", images),
	}
	iterations := t.n(10, 3)
	t.logf("check-manifests: %d manifests, %d images, %d iterations", manifests, images, iterations)
	r, err := c.MeasureCheckManifests(ctx, manifests, images, iterations)
	if err != nil {
		row.Err = err
		return row
	}
	row.Result = fmt.Sprintf("%d manifest + %d token requests at the registry; check p50 %s", r.Requests.Manifests, r.Requests.Tokens, dur(r.Check.P50()))
	row.Baseline = fmt.Sprintf("%d images; one bare HEAD per image, %d at a time, fresh transport: p50 %s", images, 16, dur(r.Head.P50()))
	row.Ratio = fmt.Sprintf("%.2f manifest requests/image; time %.2f", float64(r.Requests.Manifests)/float64(images), r.Ratio())
	row.Met = r.Requests.Manifests <= images && r.Ratio() <= 1.5
	return row
}

// budget is the webhook's own deadline with the shipped configuration (timeoutSeconds 10, 1 s
// margin, 8 s cap).
const budget = 8 * time.Second

func (t *table) faults(ctx context.Context, c *bench.Cluster) bench.Row {
	cases := bench.FaultCases()
	row := bench.Row{
		Name:     fmt.Sprintf("Registry faults through the API server (%d kinds, shipped config)", len(cases)),
		Baseline: "webhook budget 8s",
		Target:   "all answered by the webhook in budget, expected decision; 0 calling_webhook_error",
	}
	t.logf("faults: %d kinds", len(cases))
	before, err := testbed.ScrapeWebhookMetrics(ctx, c.Client, testbed.WebhookName)
	if err != nil {
		row.Err = err
		return row
	}
	ok, slowest := 0, time.Duration(0)
	var failed []string
	outcomes := make([]bench.FaultOutcome, len(cases))
	errs := make([]error, len(cases))
	done := make(chan int)
	for i, fc := range cases {
		go func() {
			outcomes[i], errs[i] = c.RunFault(ctx, fc, c.Enforce)
			done <- i
		}()
	}
	for range cases {
		i := <-done
		o := outcomes[i]
		err := errs[i]
		if err == nil {
			err = o.Check(false, budget)
		}
		slowest = max(slowest, o.Took)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", cases[i].Name, err))
			continue
		}
		ok++
	}
	after, err := testbed.ScrapeWebhookMetrics(ctx, c.Client, testbed.WebhookName)
	if err != nil {
		row.Err = err
		return row
	}
	d := after.Sub(before)
	row.Result = fmt.Sprintf("%d/%d as expected, slowest %s, %.0f calling_webhook_error, %.0f fail-open", ok, len(cases), dur(slowest), d.CallErrors, d.FailOpen)
	row.Ratio = fmt.Sprintf("%.2f (slowest/budget)", float64(slowest)/float64(budget))
	row.Met = ok == len(cases) && d.CallErrors == 0 && d.FailOpen == 0 && slowest < budget
	for _, f := range failed {
		t.logf("fault not as expected: %s", f)
	}
	return row
}

func (t *table) mixedLoad(ctx context.Context, c *bench.Cluster) []bench.Row {
	perClient := t.n(2000, 50)
	row := bench.Row{
		Name:     fmt.Sprintf("Load: 20 clients x %d admissions (70%% cached, 15%% cold, 15%% registry 503)", perClient),
		Baseline: "webhook budget 8s",
		Target:   "0 errors, 0 calling_webhook_error, p99 < budget",
	}
	memory := bench.Row{Name: "Memory: peak RSS of the webhook under that load", Baseline: "target 150 MiB", Target: "peak RSS < 150 MiB"}
	pid := os.Getpid()
	if t.o.webhookBinary != "" {
		t.logf("load: swapping in %s for the in-process webhook", t.o.webhookBinary)
		p, err := c.SwapInWebhookBinary(ctx, t.o.webhookBinary)
		if err != nil {
			row.Err, memory.Err = err, err
			return []bench.Row{row, memory}
		}
		defer func() {
			if err := p.Stop(); err != nil {
				t.logf("stopping the webhook binary: %v", err)
			}
		}()
		pid = p.PID()
	} else {
		memory.Name += " (in-process: includes the harness)"
	}
	t.logf("load: 20 clients x %d admissions", perClient)
	m, err := c.MeasureMixedLoad(ctx, 20, perClient, pid)
	if err != nil {
		row.Err, memory.Err = err, err
		return []bench.Row{row, memory}
	}
	t.logf("load: %s", m)
	if m.FirstErr != nil {
		t.logf("load: first failed admission: %v", m.FirstErr)
	}
	row.Result = fmt.Sprintf("%d errors, %.0f calling_webhook_error; p50 %s p99 %s (cached %s, cold %s, failing %s)", m.Errors, m.Webhook.CallErrors,
		dur(m.All.P50()), dur(m.All.P99()), dur(m.ByKind["cached"].P99()), dur(m.ByKind["cold"].P99()), dur(m.ByKind["failing"].P99()))
	row.Ratio = fmt.Sprintf("%.3f (p99/budget)", float64(m.All.P99())/float64(budget))
	row.Met = m.Errors == 0 && m.Webhook.CallErrors == 0 && m.Webhook.FailOpen == 0 && m.All.P99() < budget
	memory.Result = fmt.Sprintf("peak RSS %s", bench.MiB(m.PeakRSS))
	memory.Ratio = fmt.Sprintf("%.2f", float64(m.PeakRSS)/memoryTarget)
	memory.Met = m.PeakRSS > 0 && m.PeakRSS < memoryTarget
	return []bench.Row{row, memory}
}

func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(10 * time.Microsecond).String()
}
