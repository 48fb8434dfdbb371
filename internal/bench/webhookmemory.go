package bench

import (
	"context"
	"fmt"
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
	// Resampled images were admitted again after the fill, each answered from the cache.
	Resampled int
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
	admit := func(i int, images []string) error {
		if a := c.CreatePod(ctx, c.Enforce, images...); a.Err != nil || len(a.Warnings) > 0 {
			return fmt.Errorf("admitting pod %d of the fill: %v %q", i, a.Err, a.Warnings)
		}
		return nil
	}
	res.RestRSS, _ = processRSS(p.PID())
	pods := (n + cacheFillPodImages - 1) / cacheFillPodImages
	if err := parallel(ctx, 0, pods, 8, func(i int) error { return admit(i, pod(i)) }); err != nil {
		return res, err
	}
	res.FullRSS, _ = processRSS(p.PID())
	if got := reg.manifests.Load(); got != int64(n) {
		return res, fmt.Errorf("the fill made %d manifest requests for %d images", got, n)
	}
	for i := 0; i < pods; i += max(pods/10, 1) {
		images := pod(i)
		if err := admit(i, images); err != nil {
			return res, err
		}
		res.Resampled += len(images)
	}
	if requests := reg.manifests.Load() - int64(n); requests > 0 {
		return res, fmt.Errorf("%d of %d resampled images went to the registry: the cache did not hold every verdict", requests, res.Resampled)
	}
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	res.HeldRSS, res.PeakRSS = processRSS(p.PID())
	return res, nil
}
