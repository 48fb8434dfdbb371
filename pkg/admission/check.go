package admission

import (
	"context"
	"runtime/debug"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pullguard/pullguard/pkg/registry"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// Checker is the registry engine as the handler sees it.
type Checker interface {
	Check(ctx context.Context, req registry.Request) registry.Verdict
}

// cacheChecker is a Checker that can answer from its cache without blocking
// (registry.Checker.Cached): a warm admission then starts no goroutine and builds no Batch.
type cacheChecker interface {
	Cached(req registry.Request) (registry.Verdict, bool)
}

// checkPanic carries a panic out of a check goroutine, where nothing could recover it, to the
// handler's goroutine, where Handle answers it like any other panic.
type checkPanic struct {
	value any
	stack []byte
}

type checkResult struct {
	image   string
	verdict registry.Verdict
	panic   *checkPanic
}

// checkImages asks the checker about each distinct image, from its cache first when it has
// one (cacheChecker), the rest at most MaxConcurrentImages at a time, and returns by ctx's deadline whatever happened: an image whose check has not finished
// by then gets an Unverifiable/timeout verdict, so that the configured Unverifiable decision
// applies and the API server never times out on us. A checker that ignores its context only
// leaks its own goroutine, never delays the answer.
func (h *Handler) checkImages(ctx context.Context, images []string, kr *keyring.Keyring, platforms []ocispec.Platform, budget time.Duration, trusted bool) map[string]registry.Verdict {
	verdicts := make(map[string]registry.Verdict, len(images))
	if cc, ok := h.checker.(cacheChecker); ok {
		var missed []string
		for _, image := range images {
			if v, ok := cc.Cached(registry.Request{Image: image, Keyring: kr, Platforms: platforms, TrustedCaller: trusted}); ok {
				verdicts[image] = v
			} else {
				missed = append(missed, image)
			}
		}
		if len(missed) == 0 {
			return verdicts
		}
		images = missed
	}
	results := make(chan checkResult, len(images))
	sem := make(chan struct{}, h.cfg.MaxConcurrentImages)
	batch := registry.NewBatch(images, kr)
	for _, image := range images {
		go func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			defer func() {
				if r := recover(); r != nil {
					results <- checkResult{image: image, panic: &checkPanic{value: r, stack: debug.Stack()}}
				}
			}()
			v := h.checker.Check(ctx, registry.Request{Image: image, Keyring: kr, Platforms: platforms, TrustedCaller: trusted, Batch: batch})
			results <- checkResult{image: image, verdict: v}
		}()
	}

	want := len(verdicts) + len(images)
	take := func(r checkResult) {
		if r.panic != nil {
			panic(*r.panic)
		}
		v := r.verdict
		if ctx.Err() != nil && v.Outcome != registry.Pullable && v.Outcome != registry.NotPullable {
			// Whatever the engine says when its context ends, the user should hear the one
			// reason: the admission budget ran out.
			v = registry.TimeoutVerdict(r.image, budget)
		}
		verdicts[r.image] = v
	}
wait:
	for len(verdicts) < want {
		select {
		case r := <-results:
			take(r)
		case <-ctx.Done():
			break wait
		}
	}
	// Checks that finished in the same instant as the deadline still count.
	for len(verdicts) < want {
		select {
		case r := <-results:
			take(r)
		default:
			for _, image := range images {
				if _, ok := verdicts[image]; !ok {
					verdicts[image] = registry.TimeoutVerdict(image, budget)
				}
			}
		}
	}
	return verdicts
}
