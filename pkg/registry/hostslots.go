package registry

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/net/publicsuffix"

	"github.com/pullguard/pullguard/pkg/registry/egress"
)

// keySlots caps the round trips in flight per key: per host (Limits.MaxRequestsPerHost) and per
// registrable domain (Limits.MaxRequestsPerDomain), so that a registry that holds its requests
// open (a trickled body, a hang) fills its own slots and not every slot of the global
// semaphore: checks of healthy registries go on. Keys without requests in flight are
// forgotten, so the map is bounded by the requests in flight.
type keySlots struct {
	max  int
	mu   sync.Mutex
	keys map[string]*keySlot
}

type keySlot struct {
	slots chan struct{}
	users int
}

func newKeySlots(max int) *keySlots {
	return &keySlots{max: max, keys: map[string]*keySlot{}}
}

// acquire waits for a slot of key until ctx ends, and returns the function that frees it.
func (h *keySlots) acquire(ctx context.Context, key string) (func(), error) {
	h.mu.Lock()
	s, ok := h.keys[key]
	if !ok {
		s = &keySlot{slots: make(chan struct{}, h.max)}
		h.keys[key] = s
	}
	s.users++
	h.mu.Unlock()
	forget := func() {
		h.mu.Lock()
		if s.users--; s.users == 0 {
			delete(h.keys, key)
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

// slotHost is a request's per-host key: its host in the network guard's canonical form (case,
// root dot, mapped and zoned IP literals) and its port, the scheme's default written out, so that
// one server under two spellings ("Reg.Example.com.:443", "reg.example.com") shares one budget.
func slotHost(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return net.JoinHostPort(egress.CanonicalHost(u.Hostname()), port)
}

// registrableDomain is what one party controls of a registry host[:port]: its registrable
// domain (the public suffix plus one label, publicsuffix.EffectiveTLDPlusOne: a.evil.example and
// b.evil.example are one, and so are two tenants' hosts only where the public suffix list does
// not separate them). An IPv4 literal is itself; an IPv6 literal is its /64, the smallest
// allocation a network is given, which holds more addresses than anyone could use apart. A
// name that is itself a public suffix, or has none, is itself.
func registrableDomain(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	// The guard's own canonical form: case, root dot, mapped and zoned IP literals.
	host = egress.CanonicalHost(strings.Trim(host, "[]"))
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Is6() {
			return netip.PrefixFrom(addr, 64).Masked().String()
		}
		return host
	}
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}
