package registry

import (
	"context"
	"sync"
)

// trace collects what the transport learns during one check that errors do not carry.
type trace struct {
	mu         sync.Mutex
	retryAfter string
	// challenge is a Bearer challenge met on a repository request sent without a bearer token
	// (lateChallenge).
	challenge *lateChallenge
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

func (t *trace) setChallenge(c *lateChallenge) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.challenge = c
}

// takeChallenge returns, and forgets, the challenge met on host.
func (t *trace) takeChallenge(host string) *lateChallenge {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.challenge
	if c == nil || c.host != host {
		return nil
	}
	t.challenge = nil
	return c
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
