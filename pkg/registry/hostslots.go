package registry

import (
	"context"
	"sync"
)

// hostSlots caps the round trips in flight to one host, so that a registry that holds its
// requests open (a trickled body, a hang) fills its own slots and not every slot of the global
// semaphore: checks of healthy registries go on. Hosts without requests in flight are
// forgotten, so the map is bounded by the requests in flight.
type hostSlots struct {
	max   int
	mu    sync.Mutex
	hosts map[string]*hostSlot
}

type hostSlot struct {
	slots chan struct{}
	users int
}

func newHostSlots(max int) *hostSlots {
	return &hostSlots{max: max, hosts: map[string]*hostSlot{}}
}

// acquire waits for a slot of host until ctx ends, and returns the function that frees it.
func (h *hostSlots) acquire(ctx context.Context, host string) (func(), error) {
	h.mu.Lock()
	s, ok := h.hosts[host]
	if !ok {
		s = &hostSlot{slots: make(chan struct{}, h.max)}
		h.hosts[host] = s
	}
	s.users++
	h.mu.Unlock()
	forget := func() {
		h.mu.Lock()
		if s.users--; s.users == 0 {
			delete(h.hosts, host)
		}
		h.mu.Unlock()
	}
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots; forget() }, nil
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	}
}
