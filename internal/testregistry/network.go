package testregistry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
)

// ErrNotLoopback is returned by Network.Dial for any destination outside 127.0.0.0/8 and ::1.
var ErrNotLoopback = errors.New("testregistry: refusing to dial a non-loopback address")

// Network is a hermetic stand-in for DNS and TCP, to plug into egress.Options (Resolver, Dial).
// Host names registered with Add resolve to a loopback address of their own (127.0.0.2, .3, …)
// and every connection to that address, whatever the port, reaches the registry. So a test can
// use real names such as index.docker.io, on port 443, without a packet leaving the machine.
// Unknown names fail as NXDOMAIN; a dial to anything but loopback is refused and recorded.
type Network struct {
	mu      sync.Mutex
	names   map[string]netip.Addr
	targets map[netip.Addr]string // alias address → registry "127.0.0.1:port"
	refused []string
	next    netip.Addr
}

// NewNetwork returns a Network with no names.
func NewNetwork() *Network {
	return &Network{
		names:   map[string]netip.Addr{},
		targets: map[netip.Addr]string{},
		next:    netip.AddrFrom4([4]byte{127, 0, 0, 2}),
	}
}

// Add makes host resolve to an address of its own whose connections reach r.
func (n *Network) Add(host string, r *Registry) { n.AddAddr(host, r.Addr) }

// AddAddr makes host resolve to an address of its own whose connections reach the loopback
// address target ("127.0.0.1:port").
func (n *Network) AddAddr(host, target string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a := n.next
	n.next = n.next.Next()
	n.names[host] = a
	n.targets[a] = target
}

// LookupNetIP implements egress.Resolver.
func (n *Network) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a, ok := n.names[strings.TrimSuffix(host, ".")]; ok { // the guard looks names up rooted
		return []netip.Addr{a}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// Dial implements egress.Options.Dial: alias addresses reach their registry, other loopback
// addresses are dialled as they are, and nothing else is ever dialled.
func (n *Network) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("testregistry: dial address %q: %w", addr, err)
	}
	ip := ap.Addr().Unmap()
	n.mu.Lock()
	target, alias := n.targets[ip]
	if !ip.IsLoopback() {
		n.refused = append(n.refused, addr)
	}
	n.mu.Unlock()
	switch {
	case alias:
		addr = target
	case !ip.IsLoopback():
		return nil, fmt.Errorf("%w: %s", ErrNotLoopback, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// Refused returns the non-loopback destinations Dial refused.
func (n *Network) Refused() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.refused...)
}
