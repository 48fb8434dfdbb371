package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// WebhookMemoryResult is the resident set of the webhook binary (not the bench process that
// MeasureCacheMemory measures) serving admissions from the API server, at rest and with its
// verdict cache filled.
type WebhookMemoryResult struct {
	Entries int
	// RestRSS is the process's resident set after the admissions that proved it serves;
	// FullRSS right after the fill; HeldRSS once settled (the runtime has returned what it will
	// of the fill's garbage); PeakRSS its high-water mark (VmHWM).
	RestRSS, FullRSS, HeldRSS, PeakRSS uint64
	// Resampled images were admitted again after the fill; ResampleRequests is the manifest
	// requests that took (0: the cache held every verdict).
	Resampled        int
	ResampleRequests int64
	Took             time.Duration
}

// cacheFillPodImages is how many images each pod of the fill runs: well under the webhook's
// per-object limit (256).
const cacheFillPodImages = 100

// MeasureWebhookMemory fills the verdict cache of the webhook binary p with n distinct images
// on anyTagRegistry (cacheImage, as MeasureCacheMemory checks them), admitted through the API
// server as dry-run pods of cacheFillPodImages images in c.Enforce, 8 at a time, and reads
// p's resident set before, right after, and settle after the fill.
func (c *Cluster) MeasureWebhookMemory(ctx context.Context, p *WebhookProcess, n int, settle time.Duration) (WebhookMemoryResult, error) {
	res := WebhookMemoryResult{Entries: n}
	reg := &anyTagRegistry{}
	srv := startTLSServer(reg, c.Bed.LoopbackServerTLS().Certificates[0])
	defer srv.Close()
	host := srv.Listener.Addr().String()
	pod := func(i int) []string {
		images := make([]string, 0, cacheFillPodImages)
		for j := i * cacheFillPodImages; j < min((i+1)*cacheFillPodImages, n); j++ {
			images = append(images, cacheImage(host, j))
		}
		return images
	}
	admit := func(i int) error {
		if a := c.CreatePod(ctx, c.Enforce, pod(i)...); a.Err != nil || len(a.Warnings) > 0 {
			return fmt.Errorf("admitting pod %d of the fill: %v %q", i, a.Err, a.Warnings)
		}
		return nil
	}
	res.RestRSS, _ = processRSS(p.PID())
	pods := (n + cacheFillPodImages - 1) / cacheFillPodImages
	start := time.Now()
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < pods && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				if err := admit(i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return res, firstErr
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Took = time.Since(start)
	res.FullRSS, _ = processRSS(p.PID())
	if got := reg.manifests.Load(); got != int64(n) {
		return res, fmt.Errorf("the fill made %d manifest requests for %d images", got, n)
	}
	before := reg.manifests.Load()
	for i := 0; i < pods; i += max(pods/10, 1) {
		if err := admit(i); err != nil {
			return res, err
		}
		res.Resampled += len(pod(i))
	}
	res.ResampleRequests = reg.manifests.Load() - before
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	res.HeldRSS, res.PeakRSS = processRSS(p.PID())
	return res, nil
}
