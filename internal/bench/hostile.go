package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/pullguard/pullguard/pkg/admission"
)

// hostileObjectBytes is about the largest object the API server accepts (its 3 MiB request
// limit): no forgery is needed to send the webhook one.
const hostileObjectBytes = 3 << 20

// HostileResult compares admissions of hostile Deployments of about hostileObjectBytes with
// the ordinary three-container one, through the webhook's own server.
type HostileResult struct {
	// Images and Secrets are what the two hostile objects hold, Bytes what their reviews weigh.
	Images, Secrets                   int
	Bytes                             [2]int
	Ordinary, ManyImages, ManySecrets Latencies
}

// hostileReview is a Deployment review of about hostileObjectBytes holding as many distinct
// images, or pull secret names, as fit, and how many.
func hostileReview(images bool) ([]byte, int, error) {
	build := func(n int) ([]byte, error) {
		var imgs, secrets []string
		for i := range n {
			if images {
				imgs = append(imgs, fmt.Sprintf("reg.example.com/a:%d", i))
			} else {
				secrets = append(secrets, fmt.Sprintf("s%d", i))
			}
		}
		if !images {
			imgs = []string{"reg.example.com/a:1"}
		}
		return deploymentReview("hostile", Deployment(benchNamespace, "hostile", imgs, secrets...))
	}
	n := 1000
	for range 3 { // the size grows linearly with n
		b, err := build(n)
		if err != nil {
			return nil, 0, err
		}
		if len(b) > hostileObjectBytes*95/100 && len(b) <= hostileObjectBytes {
			return b, n, nil
		}
		n = n * hostileObjectBytes / len(b) * 99 / 100
	}
	b, err := build(n)
	return b, n, err
}

// MeasureHostileObjects sends the ordinary review and the two hostile ones in turn, rounds
// times each, and requires every answer to be an admission (the hostile objects are past the
// per-object limits: one Unverifiable warning, allowed).
func (e *ThroughputEnv) MeasureHostileObjects(ctx context.Context, rounds int) (HostileResult, error) {
	var res HostileResult
	manyImages, n, err := hostileReview(true)
	if err != nil {
		return res, err
	}
	res.Images, res.Bytes[0] = n, len(manyImages)
	manySecrets, n, err := hostileReview(false)
	if err != nil {
		return res, err
	}
	res.Secrets, res.Bytes[1] = n, len(manySecrets)
	for range rounds {
		for _, k := range []struct {
			review []byte
			into   *Latencies
		}{{e.review, &res.Ordinary}, {manyImages, &res.ManyImages}, {manySecrets, &res.ManySecrets}} {
			start := time.Now()
			r, err := e.server.post(ctx, admission.Path, k.review)
			if err != nil {
				return res, err
			}
			if !r.Allowed {
				return res, fmt.Errorf("refused: %v", r.Result)
			}
			*k.into = append(*k.into, time.Since(start))
		}
	}
	return res, nil
}
