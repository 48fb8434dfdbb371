package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/internal/testregistry"
)

// RegistryLoad is what reached the registry for a batch of admissions.
type RegistryLoad struct {
	Admissions int
	Images     int
	// Requests are counted at the registry (its counting front and token service) for the
	// repositories of the images the admissions used.
	Requests testbed.Requests
	Errors   int
	FirstErr error
	Took     time.Duration
}

func (l RegistryLoad) String() string {
	return fmt.Sprintf("%d admissions of %d images: %d manifest, %d token, %d blob requests at the registry in %s",
		l.Admissions, l.Images, l.Requests.Manifests, l.Requests.Tokens, l.Requests.Blobs, l.Took.Round(time.Millisecond))
}

// freshImages pushes n new images, each to a repository of its own, and returns their
// references and repositories.
func (c *Cluster) freshImages(ctx context.Context, prefix string, n int) (images, repos []string, err error) {
	run := time.Now().UnixNano()
	for i := range n {
		repo := fmt.Sprintf("private/%s-%d-%d", prefix, run, i)
		ref, err := c.PushImage(ctx, repo+":1.0")
		if err != nil {
			return nil, nil, err
		}
		images, repos = append(images, ref), append(repos, repo)
	}
	return images, repos, nil
}

func (c *Cluster) requests(repos []string) testbed.Requests {
	var total testbed.Requests
	for _, repo := range repos {
		q := c.Bed.Registry.Requests(repo)
		total.Manifests += q.Manifests
		total.Blobs += q.Blobs
		total.Tokens += q.Tokens
	}
	return total
}

// MeasureSharedImages admits pods that all run the same 3 new private images admissions
// times, from clients concurrent clients, within the verdict cache's TTL, and counts what
// reached the registry (target: 3 manifest requests, one per image).
func (c *Cluster) MeasureSharedImages(ctx context.Context, admissions, clients int) (RegistryLoad, error) {
	images, repos, err := c.freshImages(ctx, "shared", 3)
	if err != nil {
		return RegistryLoad{}, err
	}
	before := c.requests(repos)
	res := RegistryLoad{Admissions: admissions, Images: len(images)}
	var failed failures
	start := time.Now()
	c.fanOut(admissions, clients, func(int) { failed.record(c.CreatePod(ctx, c.Enforce, images...)) })
	res.Took = time.Since(start)
	res.Errors, res.FirstErr = failed.n, failed.first
	res.Requests = sub(c.requests(repos), before)
	return res, nil
}

// MeasureIdenticalCold releases admissions identical admissions of a pod with one new image at
// once and counts the manifest requests that reached the registry (target 1).
func (c *Cluster) MeasureIdenticalCold(ctx context.Context, admissions int) (RegistryLoad, error) {
	images, repos, err := c.freshImages(ctx, "identical", 1)
	if err != nil {
		return RegistryLoad{}, err
	}
	before := c.requests(repos)
	res := RegistryLoad{Admissions: admissions, Images: 1}
	var failed failures
	release := make(chan struct{})
	var ready sync.WaitGroup
	ready.Add(admissions)
	done := make(chan struct{})
	go func() {
		c.fanOut(admissions, admissions, func(int) {
			ready.Done()
			<-release
			failed.record(c.CreatePod(ctx, c.Enforce, images...))
		})
		close(done)
	}()
	ready.Wait()
	start := time.Now()
	close(release)
	<-done
	res.Took = time.Since(start)
	res.Errors, res.FirstErr = failed.n, failed.first
	res.Requests = sub(c.requests(repos), before)
	return res, nil
}

// failures counts admissions that failed, from concurrent clients.
type failures struct {
	mu    sync.Mutex
	n     int
	first error
}

// record counts a: an error, or a warning, is a failure (every image of these batches pulls).
func (f *failures) record(a Admission) {
	err := a.Err
	if err == nil && len(a.Warnings) > 0 {
		err = fmt.Errorf("unexpected warnings: %s", joinWarnings(a.Warnings))
	}
	if err == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.first == nil {
		f.first = err
	}
}

func sub(a, b testbed.Requests) testbed.Requests {
	return testbed.Requests{Manifests: a.Manifests - b.Manifests, Blobs: a.Blobs - b.Blobs, Tokens: a.Tokens - b.Tokens}
}

// fanOut calls f(i) for i in [0, n) from workers goroutines.
func (c *Cluster) fanOut(n, workers int, f func(int)) {
	_ = parallel(context.Background(), 0, n, min(workers, n), func(i int) error {
		f(i)
		return nil
	})
}

// parallel calls f(i) for i in [from, n) in order of i from workers goroutines, until f
// returns an error or ctx ends; it returns the first error of f, else ctx's.
func parallel(ctx context.Context, from, n, workers int, f func(i int) error) error {
	var next atomic.Int64
	next.Store(int64(from))
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				if err := f(i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// tagImage pushes one image to repo and tags it n times (cold-0, cold-1, …), which costs the
// registry one manifest PUT per tag, and returns the tagged references.
func (c *Cluster) tagImage(ctx context.Context, repo string, n int) ([]string, error) {
	base, err := c.PushImage(ctx, repo+":base")
	if err != nil {
		return nil, err
	}
	opts := c.Bed.Registry.RemoteOptions(ctx, testbed.Pusher)
	ref, err := name.ParseReference(base, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", base, err)
	}
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", base, err)
	}
	refs := make([]string, n)
	errs := make([]error, n)
	c.fanOut(n, 8, func(i int) {
		tag, err := name.NewTag(fmt.Sprintf("%s:cold-%d", c.Bed.Registry.Ref(repo), i), name.StrictValidation)
		if err == nil {
			err = remote.Tag(tag, desc, opts...)
		}
		refs[i], errs[i] = tag.String(), err
	})
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("tagging %s: %w", base, err)
	}
	return refs, nil
}

// MixedLoad is the outcome of the mixed admission load.
type MixedLoad struct {
	Clients, PerClient int
	// Latencies of every admission, and per kind of image.
	All    Latencies
	ByKind map[string]Latencies
	Errors int
	// FirstErr is the first admission that failed or got an unexpected answer.
	FirstErr error
	// Webhook counts the API server's calls of pullguard during the load and their failures.
	Webhook testbed.WebhookMetrics
	// PeakRSS is the high-water mark of the resident set of the process serving the webhook
	// (this one, unless the webhook runs as its own process), read after the load.
	PeakRSS uint64
	Took    time.Duration
}

// Load mix: most pods run images checked moments ago; some run an image nobody checked yet
// (a tag pushed for the run, used once); some run an image whose registry answers 503.
const (
	kindCached  = "cached"
	kindCold    = "cold"
	kindFailing = "failing"
)

// mixedKind picks the kind of the i-th admission: 70% cached, 15% cold, 15% failing.
func mixedKind(i int) string {
	switch i % 20 {
	case 0, 7, 14:
		return kindCold
	case 3, 10, 17:
		return kindFailing
	}
	return kindCached
}

// MeasureMixedLoad admits clients x perClient pods in the warn namespace, mixing cached, cold
// and failing images. Every admission must be answered by the webhook (zero call errors at the
// API server), cached and cold ones without a warning, failing ones with the registry-outage
// warning. webhookPID is the process to read the peak RSS of.
func (c *Cluster) MeasureMixedLoad(ctx context.Context, clients, perClient, webhookPID int) (MixedLoad, error) {
	res := MixedLoad{Clients: clients, PerClient: perClient, ByKind: map[string]Latencies{}}
	total := clients * perClient
	cold := 0
	for i := range total {
		if mixedKind(i) == kindCold {
			cold++
		}
	}
	// Cold images are new tags of one private repository: the token is reused, the verdict is not.
	coldImages, err := c.tagImage(ctx, fmt.Sprintf("private/mixed-%d", time.Now().UnixNano()), cold)
	if err != nil {
		return res, err
	}
	failing, err := c.StartFaultFront(Fault{Registry: testregistry.Fault{Status: 503}})
	if err != nil {
		return res, err
	}
	defer failing.Close()
	failingImage := failing.Ref(testbed.RepoWeb + ":1.0")
	cached := c.Images
	for _, image := range cached {
		if a := c.CreatePod(ctx, c.Warn, image); a.Err != nil || len(a.Warnings) > 0 {
			return res, fmt.Errorf("warming %s: %v %q", image, a.Err, a.Warnings)
		}
	}
	before, err := testbed.ScrapeWebhookMetrics(ctx, c.Client, testbed.WebhookName)
	if err != nil {
		return res, err
	}
	var mu sync.Mutex
	var coldNext int
	start := time.Now()
	c.fanOut(total, clients, func(i int) {
		kind := mixedKind(i)
		var image string
		switch kind {
		case kindCached:
			image = cached[i%len(cached)]
		case kindFailing:
			image = failingImage
		case kindCold:
			mu.Lock()
			image = coldImages[coldNext]
			coldNext++
			mu.Unlock()
		}
		a := c.CreatePod(ctx, c.Warn, image)
		err := a.Err
		switch {
		case err != nil:
		case kind == kindFailing && !containsAll(joinWarnings(a.Warnings), "unavailable", "503"):
			err = fmt.Errorf("%s: warnings %q lack the registry outage", image, a.Warnings)
		case kind != kindFailing && len(a.Warnings) > 0:
			err = fmt.Errorf("%s: unexpected warnings %q", image, a.Warnings)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			res.Errors++
			if res.FirstErr == nil {
				res.FirstErr = fmt.Errorf("%s admission: %w", kind, err)
			}
			return
		}
		res.All = append(res.All, a.Took)
		res.ByKind[kind] = append(res.ByKind[kind], a.Took)
	})
	res.Took = time.Since(start)
	after, err := testbed.ScrapeWebhookMetrics(ctx, c.Client, testbed.WebhookName)
	if err != nil {
		return res, err
	}
	res.Webhook = after.Sub(before)
	_, res.PeakRSS = processRSS(webhookPID)
	return res, nil
}

func (m MixedLoad) String() string {
	s := fmt.Sprintf("%d clients x %d admissions in %s: p50 %s p99 %s max %s;", m.Clients, m.PerClient, m.Took.Round(time.Millisecond),
		ms(m.All.P50()), ms(m.All.P99()), ms(m.All.Max()))
	for _, k := range []string{kindCached, kindCold, kindFailing} {
		l := m.ByKind[k]
		s += fmt.Sprintf(" %s p99 %s (n=%d);", k, ms(l.P99()), len(l))
	}
	return s + fmt.Sprintf(" errors %d, webhook calls %.0f, call errors %.0f, peak RSS %s", m.Errors, m.Webhook.Requests, m.Webhook.CallErrors, MiB(m.PeakRSS))
}

func containsAll(s string, words ...string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}
