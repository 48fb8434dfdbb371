package egress

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// guard decides, for every connection, whether its resolved destination may be dialled.
type guard struct {
	prefixes []netip.Prefix
	hosts    hostList
	resolver Resolver
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout  time.Duration
	metrics  Metrics
}

func newGuard(opts Options, metrics Metrics) (*guard, error) {
	g := &guard{
		resolver: opts.Resolver,
		dial:     opts.Dial,
		timeout:  opts.DialTimeout,
		metrics:  metrics,
	}
	if g.resolver == nil {
		g.resolver = net.DefaultResolver
	}
	if g.dial == nil {
		g.dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	for _, e := range opts.AllowPrivate {
		if p, err := netip.ParsePrefix(e); err == nil {
			g.prefixes = append(g.prefixes, unmapPrefix(p))
			continue
		}
		host, port, err := splitHostPort(e)
		if err != nil {
			return nil, fmt.Errorf("private registry allowlist: %w", err)
		}
		g.hosts = append(g.hosts, hostPattern{host: host, port: port})
	}
	return g, nil
}

// unmapPrefix turns ::ffff:a.b.c.d/n (n >= 96) into a.b.c.d/(n-96), since addresses are
// compared in their unmapped form.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// dialContext is the http.Transport dialer: it resolves address itself, refuses the connection
// if any resolved address is blocked, and dials the checked IP literals, so that no second
// lookup (DNS rebinding) can happen between the check and the connect.
func (g *guard) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial address %q: %w", address, err)
	}
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	addrs, err := g.authorize(ctx, host, port)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	var first error
	for i, a := range addrs {
		// Each address gets a fair share of the time left, so one black-holed address (often
		// an IPv6 one without a working route) cannot use up the whole dial timeout.
		attemptCtx, cancelAttempt := context.WithTimeout(ctx, time.Until(deadline)/time.Duration(len(addrs)-i))
		conn, err := g.dial(attemptCtx, network, net.JoinHostPort(a.Unmap().String(), port))
		cancelAttempt()
		if err == nil {
			return conn, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// authorize resolves host and returns its addresses if every one of them may be dialled on
// port. One blocked address refuses the host: a name that mixes public and internal addresses
// is either misconfigured or an attack, and refusing it keeps the verdict deterministic.
func (g *guard) authorize(ctx context.Context, host, port string) ([]netip.Addr, error) {
	addrs, err := g.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if err := g.check(host, port, a); err != nil {
			g.metrics.Blocked(err.Reason)
			return nil, err
		}
	}
	return addrs, nil
}

func (g *guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	addrs, err := g.resolver.LookupNetIP(ctx, "ip", rooted(host))
	if err != nil {
		if dnsErr, ok := err.(*net.DNSError); ok && dnsErr.Name != host {
			named := *dnsErr
			named.Name = host // the name as the reference spells it
			return nil, &named
		}
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	// net.Resolver returns A records in IPv4-mapped form; both forms reach the same host, and
	// errors should name the address as DNS does.
	unmapped := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		unmapped[i] = a.Unmap()
	}
	return unmapped, nil
}

// rooted returns host fully qualified when it has a dot, as the node resolves it. The node
// resolves with its host's resolv.conf, which has no cluster search list; a pod's has one with
// ndots:5, so harbor.internal would first be tried as harbor.internal.svc.cluster.local, the
// Service "harbor" of a namespace "internal" that anyone allowed to create both may own. A
// single-label name (localhost, myregistry:5000) is left to the resolver's search list, as
// the node's own resolver does; the pod's adds only this pod's namespace domains to it.
// Only the lookup is rooted: the request's Host and TLS server name stay as written.
func rooted(host string) string {
	if !strings.Contains(host, ".") || strings.HasSuffix(host, ".") {
		return host
	}
	return host + "."
}

// check applies the allowlist semantics:
//   - a CIDR entry opens every address inside it (matched against the address and against the
//     IPv4 address it embeds), whatever its class;
//   - an IP-literal host entry opens that literal, whatever its class: the operator named it;
//   - a DNS-name host entry lets that name resolve to loopback, private, CGNAT or reserved
//     space (an in-cluster registry), but not to link-local, unspecified, multicast or
//     broadcast addresses nor to a cloud metadata endpoint: no registry lives there, and an
//     operator's name must not become a path to instance credentials. Those need a CIDR entry.
func (g *guard) check(host, port string, a netip.Addr) *BlockedError {
	reason, target := classify(a)
	if reason == "" {
		return nil
	}
	a = a.WithZone("")
	for _, p := range g.prefixes {
		if p.Contains(a.Unmap()) || p.Contains(target) {
			return nil
		}
	}
	nameMayOpen := nameMayOpen(reason, target)
	if e, ok := g.hosts.match(host, port); ok && (e.literal() || nameMayOpen) {
		return nil
	}
	_, literalErr := netip.ParseAddr(host)
	return &BlockedError{Host: host, Addr: a, Reason: reason, cidrOnly: literalErr != nil && !nameMayOpen}
}

func nameMayOpen(reason string, target netip.Addr) bool {
	switch reason {
	case ReasonLinkLocal, ReasonUnspecified, ReasonMulticast, ReasonBroadcast, ReasonMetadata:
		return false
	}
	return !metadataAddrs[target]
}
