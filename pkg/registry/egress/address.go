package egress

import "net/netip"

// Reasons for a refused connection: the closed set passed to Metrics.Blocked and stored in
// BlockedError.Reason, so it is safe as a metric label.
const (
	ReasonLoopback    = "loopback"
	ReasonPrivate     = "private"
	ReasonLinkLocal   = "link_local"
	ReasonCGNAT       = "cgnat"
	ReasonUnspecified = "unspecified"
	ReasonMulticast   = "multicast"
	ReasonBroadcast   = "broadcast"
	ReasonReserved    = "reserved"
	ReasonNAT64       = "nat64"
	// ReasonMetadata is a cloud platform endpoint on an otherwise public address.
	ReasonMetadata = "metadata"
	// ReasonPlainHTTP is plain HTTP to a host not listed in InsecureRegistries.
	ReasonPlainHTTP = "plain_http"
	// ReasonRedirects is a redirect chain longer than MaxRedirects.
	ReasonRedirects = "redirects"
)

// Reasons lists every value Metrics.Blocked may receive, for pre-creating metric series.
var Reasons = []string{
	ReasonLoopback, ReasonPrivate, ReasonLinkLocal, ReasonCGNAT, ReasonUnspecified,
	ReasonMulticast, ReasonBroadcast, ReasonReserved, ReasonNAT64, ReasonMetadata,
	ReasonPlainHTTP, ReasonRedirects,
}

// reasonText is the wording of a reason in error messages.
var reasonText = map[string]string{
	ReasonLoopback:    "loopback",
	ReasonPrivate:     "private",
	ReasonLinkLocal:   "link-local",
	ReasonCGNAT:       "carrier-grade NAT",
	ReasonUnspecified: "unspecified",
	ReasonMulticast:   "multicast",
	ReasonBroadcast:   "broadcast",
	ReasonReserved:    "reserved",
	ReasonNAT64:       "local-use NAT64",
	ReasonMetadata:    "cloud metadata",
}

type rangeReason struct {
	prefix netip.Prefix
	reason string
}

// First match wins, so narrower prefixes come before the ranges that contain them.
var v4Ranges = []rangeReason{
	{netip.MustParsePrefix("0.0.0.0/8"), ReasonUnspecified}, // "this network": connects to the local host on Linux
	{netip.MustParsePrefix("10.0.0.0/8"), ReasonPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), ReasonCGNAT}, // Alibaba metadata 100.100.100.200, Tailscale
	{netip.MustParsePrefix("127.0.0.0/8"), ReasonLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), ReasonLinkLocal}, // AWS/GCP/Azure metadata, ECS credentials
	{netip.MustParsePrefix("172.16.0.0/12"), ReasonPrivate},
	{netip.MustParsePrefix("192.0.0.0/24"), ReasonReserved},   // IETF protocol assignments (incl. DS-Lite, NAT64 discovery)
	{netip.MustParsePrefix("192.0.2.0/24"), ReasonReserved},   // documentation
	{netip.MustParsePrefix("192.88.99.0/24"), ReasonReserved}, // deprecated 6to4 relay anycast
	{netip.MustParsePrefix("192.168.0.0/16"), ReasonPrivate},
	{netip.MustParsePrefix("198.18.0.0/15"), ReasonReserved},   // benchmarking, used as internal space in practice
	{netip.MustParsePrefix("198.51.100.0/24"), ReasonReserved}, // documentation
	{netip.MustParsePrefix("203.0.113.0/24"), ReasonReserved},  // documentation
	{netip.MustParsePrefix("224.0.0.0/4"), ReasonMulticast},
	{netip.MustParsePrefix("255.255.255.255/32"), ReasonBroadcast},
	{netip.MustParsePrefix("240.0.0.0/4"), ReasonReserved},
	// Azure WireServer: a public address reachable from every Azure VM that serves platform
	// configuration and certificates.
	{netip.MustParsePrefix("168.63.129.16/32"), ReasonMetadata},
}

var v6Ranges = []rangeReason{
	{netip.MustParsePrefix("64:ff9b:1::/48"), ReasonNAT64},  // RFC 8215: embedding position is site-defined, so undecodable
	{netip.MustParsePrefix("100::/64"), ReasonReserved},     // discard-only
	{netip.MustParsePrefix("2001::/32"), ReasonReserved},    // Teredo: tunnels to an embedded, obfuscated IPv4 peer
	{netip.MustParsePrefix("2001:2::/48"), ReasonReserved},  // benchmarking
	{netip.MustParsePrefix("2001:10::/28"), ReasonReserved}, // ORCHID
	{netip.MustParsePrefix("2001:20::/28"), ReasonReserved}, // ORCHIDv2
	{netip.MustParsePrefix("2001:db8::/32"), ReasonReserved},
	{netip.MustParsePrefix("3fff::/20"), ReasonReserved}, // documentation (RFC 9637)
	{netip.MustParsePrefix("fc00::/7"), ReasonPrivate},   // unique local, incl. AWS IMDS fd00:ec2::254
	{netip.MustParsePrefix("fe80::/10"), ReasonLinkLocal},
	{netip.MustParsePrefix("fec0::/10"), ReasonPrivate}, // deprecated site-local
	{netip.MustParsePrefix("ff00::/8"), ReasonMulticast},
}

var (
	// globalUnicast6 is the only IPv6 block with public unicast space; anything outside it and
	// not classified above (e.g. 5f00::/16 SRv6 SIDs, unassigned space) is reserved.
	globalUnicast6 = netip.MustParsePrefix("2000::/3")

	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")    // RFC 6052: v4 in the last 32 bits
	ipv4Translated = netip.MustParsePrefix("::ffff:0:0:0/96") // RFC 2765 SIIT: v4 in the last 32 bits
	ipv4Compatible = netip.MustParsePrefix("::/96")           // deprecated: v4 in the last 32 bits
	sixToFour      = netip.MustParsePrefix("2002::/16")       // v4 in bits 16-47
)

// isatapV4 returns the IPv4 address of an ISATAP interface identifier (RFC 5214:
// ::0:5efe:a.b.c.d, or ::200:5efe:a.b.c.d with the universal bit set) in the last 64 bits.
// Only a global prefix is decoded: under any other prefix the prefix's class decides.
func isatapV4(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	if (b[8] != 0 && b[8] != 2) || b[9] != 0 || b[10] != 0x5e || b[11] != 0xfe {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(b[12:16])), true
}

// metadataAddrs are cloud credential and metadata endpoints. They sit in ranges a name entry
// of AllowPrivate would otherwise open (CGNAT, unique local), so only a CIDR entry opens them.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, OCI, OpenStack
	netip.MustParseAddr("169.254.170.2"):   true, // AWS ECS task credentials
	netip.MustParseAddr("169.254.170.23"):  true, // AWS EKS Pod Identity
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS IMDS over IPv6
	netip.MustParseAddr("fd00:ec2::23"):    true, // AWS EKS Pod Identity over IPv6
	netip.MustParseAddr("fd20:ce::254"):    true, // GCE metadata over IPv6
	netip.MustParseAddr("fd00:42::42"):     true, // Scaleway metadata over IPv6
	netip.MustParseAddr("192.0.0.192"):     true, // Oracle Cloud metadata (alternate address)
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
	netip.MustParseAddr("168.63.129.16"):   true, // Azure WireServer
}

// classify returns why a connection to a must be refused ("" for a public address) and the
// address the packets finally reach: the IPv4 address embedded in a mapped, translated,
// compatible, NAT64 or 6to4 form, else a itself without zone.
func classify(a netip.Addr) (reason string, target netip.Addr) {
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return classify4(a), a
	}
	switch {
	case a == netip.IPv6Unspecified():
		return ReasonUnspecified, a
	case a == netip.IPv6Loopback():
		return ReasonLoopback, a
	}
	if v4, ok := embeddedV4(a); ok {
		if r := classify4(v4); r != "" {
			return r, v4
		}
		if ipv4Compatible.Contains(a) {
			// Deprecated since RFC 4291; no registry has one, and some stacks tunnel them.
			return ReasonReserved, v4
		}
		return "", v4 // NAT64 and 6to4 of a public address: how IPv6-only clusters reach IPv4 registries
	}
	for _, r := range v6Ranges {
		if r.prefix.Contains(a) {
			return r.reason, a
		}
	}
	if !globalUnicast6.Contains(a) {
		return ReasonReserved, a
	}
	if v4, ok := isatapV4(a); ok {
		// The prefix's router tunnels the packets to the embedded IPv4 address.
		if r := classify4(v4); r != "" {
			return r, v4
		}
	}
	return "", a
}

func classify4(a netip.Addr) string {
	for _, r := range v4Ranges {
		if r.prefix.Contains(a) {
			return r.reason
		}
	}
	return ""
}

// embeddedV4 extracts the IPv4 address that a translation or transition form of a delivers
// packets to, so that such a form is judged exactly like the IPv4 address itself.
func embeddedV4(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	switch {
	case nat64WellKnown.Contains(a), ipv4Translated.Contains(a), ipv4Compatible.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}
