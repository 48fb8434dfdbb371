package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// hostPattern is one host[:port] entry of AllowPrivate or InsecureRegistries.
type hostPattern struct {
	host string // CanonicalHost form
	port string // "" matches every port
}

// literal reports whether the entry names an IP address rather than a DNS name.
func (p hostPattern) literal() bool {
	_, err := netip.ParseAddr(p.host)
	return err == nil
}

type hostList []hostPattern

func parseHostList(entries []string) (hostList, error) {
	l := make(hostList, 0, len(entries))
	for _, e := range entries {
		host, port, err := splitHostPort(e)
		if err != nil {
			return nil, err
		}
		l = append(l, hostPattern{host: host, port: port})
	}
	return l, nil
}

// Registries matches registries, written host[:port] as image references write them, against
// a list of such entries (an entry without a port matches every port).
type Registries struct{ l hostList }

// ParseRegistries parses entries such as Options.InsecureRegistries.
func ParseRegistries(entries []string) (Registries, error) {
	l, err := parseHostList(entries)
	return Registries{l}, err
}

// Match reports whether registry is listed.
func (r Registries) Match(registry string) bool {
	host, port, err := splitHostPort(registry)
	if err != nil {
		return false
	}
	_, ok := r.l.match(host, port)
	return ok
}

// match reports the first entry naming host (any form accepted by CanonicalHost) on port.
func (l hostList) match(host, port string) (hostPattern, bool) {
	host = CanonicalHost(host)
	for _, p := range l {
		if p.host == host && (p.port == "" || p.port == port) {
			return p, true
		}
	}
	return hostPattern{}, false
}

// CanonicalHost makes the spellings of one host compare equal: DNS names are case-insensitive
// and may carry the root dot; IP literals have several textual forms (::ffff:a.b.c.d, zero
// runs, zones), none of which changes where a connection goes.
func CanonicalHost(h string) string {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if a, err := netip.ParseAddr(h); err == nil {
		return a.WithZone("").Unmap().String()
	}
	return h
}

// splitHostPort parses a configured host[:port] and returns the canonical host and the port
// ("" when absent). Unlike net.SplitHostPort the port is optional and a bare IPv6 literal is
// accepted, because that is how registries are written in image references and daemon.json.
func splitHostPort(s string) (host, port string, err error) {
	switch {
	case s == "":
		return "", "", errors.New("empty host")
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", fmt.Errorf("host %q: missing ]", s)
		}
		host, rest := s[1:end], s[end+1:]
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() || a.Zone() != "" {
			return "", "", fmt.Errorf("host %q: brackets must hold an IPv6 address", s)
		}
		if rest != "" {
			if rest[0] != ':' {
				return "", "", fmt.Errorf("host %q: junk after ]", s)
			}
			port = rest[1:]
		}
		return finishHostPort(s, host, port, true)
	case strings.Count(s, ":") > 1:
		if a, err := netip.ParseAddr(s); err != nil || a.Zone() != "" {
			return "", "", fmt.Errorf("host %q is not an IPv6 address", s)
		}
		return finishHostPort(s, s, "", false)
	}
	host = s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if port == "" {
			return "", "", fmt.Errorf("host %q: empty port", s)
		}
	}
	return finishHostPort(s, host, port, false)
}

func finishHostPort(s, host, port string, bracketed bool) (string, string, error) {
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return "", "", fmt.Errorf("host %q: port must be 1-65535", s)
		}
		port = strconv.FormatUint(n, 10)
	}
	if !bracketed {
		if _, err := netip.ParseAddr(host); err != nil && !validDNSName(host) {
			return "", "", fmt.Errorf("host %q is neither a DNS name nor an IP address", s)
		}
	}
	return CanonicalHost(host), port, nil
}

// validDNSName follows the domain-component grammar of github.com/distribution/reference:
// dot-separated labels of letters and digits with inner hyphens.
func validDNSName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
