package reverify

import (
	"context"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pullguard/pullguard/pkg/registry"
)

// fakeClock advances only when slept on, recording every sleep.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.sleeps = append(c.sleeps, d)
		c.now = c.now.Add(d)
	}
	return ctx.Err()
}

func (c *fakeClock) total() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t time.Duration
	for _, d := range c.sleeps {
		t += d
	}
	return t
}

// countingEngine answers scripted verdicts (Pullable by default) and counts its calls by image.
type countingEngine struct {
	mu       sync.Mutex
	calls    map[string]int
	verdicts map[string]registry.Verdict
}

func (e *countingEngine) Check(_ context.Context, req registry.Request) registry.Verdict {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.calls == nil {
		e.calls = map[string]int{}
	}
	e.calls[req.Image]++
	if v, ok := e.verdicts[req.Image]; ok {
		v.Image = req.Image
		return v
	}
	return registry.Verdict{Outcome: registry.Pullable, Class: registry.ClassOK, Image: req.Image}
}

func (e *countingEngine) total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.calls {
		n += c
	}
	return n
}

func kindGVK(t testing.TB, kind string) schema.GroupVersionKind {
	t.Helper()
	for gvk := range Kinds {
		if gvk.Kind == kind {
			return gvk
		}
	}
	t.Fatalf("no kind %s", kind)
	return schema.GroupVersionKind{}
}
