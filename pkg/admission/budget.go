package admission

import (
	"context"
	"net/http"
	"time"
)

type budgetKey struct{}

// budget is the time the handler may spend on one admission, fixed when the request arrives.
type budget struct {
	deadline time.Time
	budget   time.Duration
}

// withBudget is the webhook's WithContextFunc. The deadline is only recorded here; Handle
// applies it, so that its cancel func is called (a context.WithTimeout here could not be).
func (h *Handler) withBudget(ctx context.Context, r *http.Request) context.Context {
	b := requestBudget(timeoutParam(r.URL.RawQuery), h.cfg.MaxBudget, h.cfg.TimeoutMargin)
	return context.WithValue(withCaller(ctx, r), budgetKey{}, budget{deadline: time.Now().Add(b), budget: b})
}

// requestBudget is min(maxBudget, timeout-margin) for the API server's ?timeout= ("10s", set
// by client-go from the webhook's timeoutSeconds), or maxBudget without one. A margin as large
// as the timeout itself would leave nothing, so at least half the timeout is kept.
func requestBudget(timeout string, maxBudget, margin time.Duration) time.Duration {
	t, err := time.ParseDuration(timeout)
	if err != nil || t <= 0 {
		return maxBudget
	}
	b := max(t-margin, t/2)
	if b <= 0 {
		// t/2 rounds a 1ns timeout down to nothing; the timeout itself is then the budget.
		b = t
	}
	return min(maxBudget, b)
}

func budgetFrom(ctx context.Context, maxBudget time.Duration) budget {
	if b, ok := ctx.Value(budgetKey{}).(budget); ok {
		return b
	}
	return budget{deadline: time.Now().Add(maxBudget), budget: maxBudget}
}
