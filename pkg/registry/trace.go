package registry

import (
	"context"
	"sync"
)

// trace collects what the transport learns during one check that errors do not carry.
type trace struct {
	mu         sync.Mutex
	retryAfter string
}

func (t *trace) setRetryAfter(v string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.retryAfter = v
}

func (t *trace) RetryAfter() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.retryAfter
}

type traceKey struct{}

func withTrace(ctx context.Context) (context.Context, *trace) {
	tr := &trace{}
	return context.WithValue(ctx, traceKey{}, tr), tr
}

func traceFrom(ctx context.Context) *trace {
	tr, _ := ctx.Value(traceKey{}).(*trace)
	return tr
}
