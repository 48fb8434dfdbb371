package egress

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"
)

// addressCases maps address forms to the reason they are refused ("" = public, dialled).
var addressCases = map[string]struct {
	addr   string
	reason string
}{
	"v4 loopback":                  {"127.0.0.1", ReasonLoopback},
	"v4 loopback top of range":     {"127.255.255.254", ReasonLoopback},
	"v4 private 10/8":              {"10.0.0.1", ReasonPrivate},
	"v4 private 172.16/12 low":     {"172.16.0.1", ReasonPrivate},
	"v4 private 172.16/12 high":    {"172.31.255.255", ReasonPrivate},
	"v4 private 192.168/16":        {"192.168.1.1", ReasonPrivate},
	"v4 metadata":                  {"169.254.169.254", ReasonLinkLocal},
	"v4 ECS credentials":           {"169.254.170.2", ReasonLinkLocal},
	"v4 CGNAT":                     {"100.64.0.1", ReasonCGNAT},
	"v4 Alibaba metadata":          {"100.100.100.200", ReasonCGNAT},
	"v4 0.0.0.0":                   {"0.0.0.0", ReasonUnspecified},
	"v4 this-network 0/8":          {"0.1.2.3", ReasonUnspecified},
	"v4 multicast":                 {"224.0.0.1", ReasonMulticast},
	"v4 SSDP multicast":            {"239.255.255.250", ReasonMulticast},
	"v4 broadcast":                 {"255.255.255.255", ReasonBroadcast},
	"v4 reserved 240/4":            {"240.0.0.1", ReasonReserved},
	"v4 documentation":             {"192.0.2.1", ReasonReserved},
	"v4 benchmarking":              {"198.18.0.1", ReasonReserved},
	"v4 Azure WireServer":          {"168.63.129.16", ReasonMetadata},
	"v6 loopback":                  {"::1", ReasonLoopback},
	"v6 unspecified":               {"::", ReasonUnspecified},
	"v6 link-local":                {"fe80::1", ReasonLinkLocal},
	"v6 unique local":              {"fc00::1", ReasonPrivate},
	"v6 AWS IMDS":                  {"fd00:ec2::254", ReasonPrivate},
	"v6 GCE metadata":              {"fd20:ce::254", ReasonPrivate},
	"v6 Scaleway metadata":         {"fd00:42::42", ReasonPrivate},
	"v4 Oracle metadata":           {"192.0.0.192", ReasonReserved},
	"ISATAP metadata":              {"2001:4860::5efe:a9fe:a9fe", ReasonLinkLocal},
	"ISATAP private":               {"2600:1f00::5efe:a00:1", ReasonPrivate},
	"ISATAP global-bit loopback":   {"2600:1f00::200:5efe:7f00:1", ReasonLoopback},
	"ISATAP public v4":             {"2600:1f00::5efe:808:808", ""},
	"ISATAP under link-local":      {"fe80::5efe:808:808", ReasonLinkLocal},
	"v6 site-local":                {"fec0::1", ReasonPrivate},
	"v6 multicast":                 {"ff02::1", ReasonMulticast},
	"mapped loopback":              {"::ffff:127.0.0.1", ReasonLoopback},
	"mapped metadata":              {"::ffff:169.254.169.254", ReasonLinkLocal},
	"mapped private":               {"::ffff:10.0.0.1", ReasonPrivate},
	"mapped CGNAT metadata":        {"::ffff:100.100.100.200", ReasonCGNAT},
	"mapped unspecified":           {"::ffff:0.0.0.0", ReasonUnspecified},
	"SIIT-translated metadata":     {"::ffff:0:a9fe:a9fe", ReasonLinkLocal},
	"IPv4-compatible metadata":     {"::a9fe:a9fe", ReasonLinkLocal},
	"IPv4-compatible public":       {"::808:808", ReasonReserved},
	"NAT64 metadata":               {"64:ff9b::a9fe:a9fe", ReasonLinkLocal},
	"NAT64 loopback":               {"64:ff9b::7f00:1", ReasonLoopback},
	"NAT64 local-use prefix":       {"64:ff9b:1::a00:1", ReasonNAT64},
	"6to4 metadata":                {"2002:a9fe:a9fe::1", ReasonLinkLocal},
	"6to4 private":                 {"2002:c0a8:101::1", ReasonPrivate},
	"v6 documentation":             {"2001:db8::1", ReasonReserved},
	"v6 Teredo":                    {"2001::1", ReasonReserved},
	"v6 discard-only":              {"100::1", ReasonReserved},
	"v6 outside 2000::/3":          {"5f00::1", ReasonReserved},
	"public v4":                    {"8.8.8.8", ""},
	"public v4 below CGNAT":        {"100.63.255.255", ""},
	"public v4 above CGNAT":        {"100.128.0.0", ""},
	"public v4 below 172.16/12":    {"172.15.255.255", ""},
	"public v4 above 172.16/12":    {"172.32.0.0", ""},
	"public v4 next to 192.168/16": {"192.169.0.1", ""},
	"public v6":                    {"2606:4700:4700::1111", ""},
	"mapped public v4":             {"::ffff:8.8.8.8", ""},
	"NAT64 public v4":              {"64:ff9b::808:808", ""},
	"6to4 public v4":               {"2002:808:808::1", ""},
}

// TestAddressGuard sends a request to every address form, as an IP literal and as a name the
// resolver maps to it: a blocked form must fail with its reason and no dial; a public one must
// reach the (refusing) test dialer at exactly that address.
func TestAddressGuard(t *testing.T) {
	for name, tc := range addressCases {
		a := netip.MustParseAddr(tc.addr)
		hosts := map[string]string{
			"literal": "https://" + net.JoinHostPort(tc.addr, "443") + "/v2/",
			"dns":     "https://registry.test/v2/",
		}
		for form, rawURL := range hosts {
			t.Run(name+"/"+form, func(t *testing.T) {
				dl := &dialLog{}
				m := &countingMetrics{}
				rt := newTestTransport(t, testOptions(dl, fakeResolver{"registry.test": {tc.addr}}), m)
				req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, rawURL, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := rt.RoundTrip(req)
				if resp != nil {
					resp.Body.Close()
					t.Fatalf("got a response from %s", tc.addr)
				}
				if tc.reason == "" {
					want := net.JoinHostPort(a.Unmap().String(), "443")
					if !errors.Is(err, errNotLoopback) {
						t.Fatalf("error = %v; want the test dialer's refusal", err)
					}
					if got := dl.dialled(); len(got) != 1 || got[0] != want {
						t.Errorf("dialled %v; want [%s]", got, want)
					}
					if got := m.snapshot(); len(got) != 0 {
						t.Errorf("metrics = %v; want none", got)
					}
					return
				}
				var be *BlockedError
				if !errors.As(err, &be) {
					t.Fatalf("error = %v; want *BlockedError", err)
				}
				wantAddr := a
				if form == "dns" {
					wantAddr = a.Unmap() // as net.Resolver's mapped A records are reported
				}
				if be.Reason != tc.reason || be.Addr != wantAddr {
					t.Errorf("blocked %s for %q; want %s for %q", be.Addr, be.Reason, wantAddr, tc.reason)
				}
				if got := dl.dialled(); len(got) != 0 {
					t.Errorf("dialled %v; want no dial", got)
				}
				if got := m.snapshot(); len(got) != 1 || got[tc.reason] != 1 {
					t.Errorf("metrics = %v; want one %q", got, tc.reason)
				}
			})
		}
	}
}

func TestResolution(t *testing.T) {
	tests := map[string]struct {
		host       string
		resolver   fakeResolver
		wantReason string
		notFound   bool
		timeout    bool
	}{
		"name resolving to a private address": {host: "internal.test", resolver: fakeResolver{"internal.test": {"10.1.2.3"}}, wantReason: ReasonPrivate},
		"name resolving to public and private": {
			host:       "mixed.test",
			resolver:   fakeResolver{"mixed.test": {"8.8.8.8", "192.168.0.10"}},
			wantReason: ReasonPrivate,
		},
		"name resolving to the mapped metadata address": {host: "md.test", resolver: fakeResolver{"md.test": {"::ffff:169.254.169.254"}}, wantReason: ReasonLinkLocal},
		"NXDOMAIN":               {host: "missing.test", resolver: fakeResolver{}, notFound: true},
		"no addresses":           {host: "empty.test", resolver: fakeResolver{"empty.test": {}}, notFound: true},
		"resolver past deadline": {host: "slow.test", resolver: fakeResolver{}, timeout: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dl := &dialLog{}
			o := testOptions(dl, tc.resolver)
			o.DialTimeout = 100 * time.Millisecond
			rt := newTestTransport(t, o, nil)
			start := time.Now()
			_, _, err := get(t, rt, "https://"+tc.host+"/v2/")
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("took %v; want the dial timeout to bound resolution", elapsed)
			}
			var be *BlockedError
			var dnsErr *net.DNSError
			switch {
			case tc.wantReason != "":
				if !errors.As(err, &be) || be.Reason != tc.wantReason || be.Host != tc.host {
					t.Errorf("error = %v; want *BlockedError %s for %s", err, tc.wantReason, tc.host)
				}
			case tc.notFound:
				if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
					t.Errorf("error = %v; want a not-found *net.DNSError", err)
				}
			case tc.timeout:
				if !errors.As(err, &dnsErr) || !dnsErr.IsTimeout {
					t.Errorf("error = %v; want a timed-out *net.DNSError", err)
				}
			}
			if got := dl.dialled(); len(got) != 0 {
				t.Errorf("dialled %v; want no dial", got)
			}
		})
	}
}

// TestSearchList resolves with a pod's resolv.conf (ndots:5, the cluster search list) in which
// a Service "example" in a namespace "com" shadows the registry's name: the guard must resolve
// the name as the node does, fully qualified, and still present the name as written in the
// request's Host and TLS server name.
func TestSearchList(t *testing.T) {
	var host, serverName string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, serverName = r.Host, r.TLS.ServerName
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	podSearch := []string{"pullguard.svc.cluster.local", "svc.cluster.local", "cluster.local"}
	tests := map[string]struct {
		host     string
		records  fakeResolver
		wantDial string
		wantBody string
	}{
		"dotted name is resolved fully qualified": {
			host: "example.com",
			records: fakeResolver{
				"example.com.svc.cluster.local": {"10.96.0.10"}, // the shadowing Service
				"example.com":                   {"127.0.0.1"},
			},
			wantDial: "127.0.0.1:" + port, wantBody: "ok",
		},
		"single-label name keeps the search list, as on the node": {
			host:     "localhost",
			records:  fakeResolver{"localhost.pullguard.svc.cluster.local": {"10.96.0.11"}, "localhost": {"127.0.0.1"}},
			wantDial: "10.96.0.11:" + port,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dl := &dialLog{}
			res := &searchResolver{search: podSearch, ndots: 5, records: tc.records}
			o := testOptions(dl, nil)
			o.Resolver = res
			o.AllowPrivate = []string{tc.host}
			o.CAFile = writeCA(t, srv)
			rt := newTestTransport(t, o, nil)
			host, serverName = "", ""
			_, body, err := get(t, rt, "https://"+net.JoinHostPort(tc.host, port)+"/v2/")
			if got := dl.dialled(); len(got) != 1 || got[0] != tc.wantDial {
				t.Fatalf("dialled %v (queries %v); want [%s]", got, res.queries, tc.wantDial)
			}
			if tc.wantBody == "" {
				return
			}
			if err != nil || string(body) != tc.wantBody {
				t.Fatalf("got %q, %v; want %q", body, err, tc.wantBody)
			}
			if want := net.JoinHostPort(tc.host, port); host != want || serverName != tc.host {
				t.Errorf("Host %q, TLS server name %q; want %q and %q", host, serverName, want, tc.host)
			}
		})
	}
}

func TestAllowPrivate(t *testing.T) {
	tests := map[string]struct {
		allow    []string
		url      string
		resolver fakeResolver
		// wantDial is the destination the guard lets through ("" = blocked).
		wantDial   string
		wantReason string
	}{
		"name entry opens its private address": {
			allow: []string{"harbor.internal"}, url: "https://harbor.internal/v2/",
			resolver: fakeResolver{"harbor.internal": {"10.0.0.5"}}, wantDial: "10.0.0.5:443",
		},
		"name entry is case-insensitive and ignores the root dot": {
			allow: []string{"Harbor.Internal"}, url: "https://HARBOR.internal./v2/",
			resolver: fakeResolver{"HARBOR.internal.": {"10.0.0.5"}}, wantDial: "10.0.0.5:443",
		},
		"name entry opens loopback": {
			allow: []string{"harbor.internal"}, url: "https://harbor.internal/v2/",
			resolver: fakeResolver{"harbor.internal": {"127.0.0.2"}}, wantDial: "127.0.0.2:443",
		},
		"name entry opens CGNAT": {
			allow: []string{"harbor.internal"}, url: "https://harbor.internal/v2/",
			resolver: fakeResolver{"harbor.internal": {"100.64.1.1"}}, wantDial: "100.64.1.1:443",
		},
		"name entry with port matches that port": {
			allow: []string{"harbor.internal:5000"}, url: "https://harbor.internal:5000/v2/",
			resolver: fakeResolver{"harbor.internal": {"10.0.0.5"}}, wantDial: "10.0.0.5:5000",
		},
		"name entry with port does not match the default port": {
			allow: []string{"harbor.internal:5000"}, url: "https://harbor.internal/v2/",
			resolver: fakeResolver{"harbor.internal": {"10.0.0.5"}}, wantReason: ReasonPrivate,
		},
		"name entry opens only that name": {
			allow: []string{"harbor.internal"}, url: "https://evil.test/v2/",
			resolver: fakeResolver{"evil.test": {"10.0.0.5"}}, wantReason: ReasonPrivate,
		},
		"name entry does not open link-local": {
			allow: []string{"harbor.internal"}, url: "https://harbor.internal/v2/",
			resolver: fakeResolver{"harbor.internal": {"169.254.169.254"}}, wantReason: ReasonLinkLocal,
		},
		"name entry does not open the IPv6 IMDS": {
			allow: []string{"harbor.internal"}, url: "https://harbor.internal/v2/",
			resolver: fakeResolver{"harbor.internal": {"fd00:ec2::254"}}, wantReason: ReasonPrivate,
		},
		"name entry does not open the GCE IPv6 metadata address": {
			allow: []string{"harbor.internal"}, url: "https://harbor.internal/v2/",
			resolver: fakeResolver{"harbor.internal": {"fd20:ce::254"}}, wantReason: ReasonPrivate,
		},
		"name entry does not open the Scaleway metadata address": {
			allow: []string{"harbor.internal"}, url: "https://harbor.internal/v2/",
			resolver: fakeResolver{"harbor.internal": {"fd00:42::42"}}, wantReason: ReasonPrivate,
		},
		"name entry does not open the Oracle metadata address": {
			allow: []string{"harbor.internal"}, url: "https://harbor.internal/v2/",
			resolver: fakeResolver{"harbor.internal": {"192.0.0.192"}}, wantReason: ReasonReserved,
		},
		"name entry does not open the ISATAP form of the metadata address": {
			allow: []string{"harbor.internal"}, url: "https://harbor.internal/v2/",
			resolver: fakeResolver{"harbor.internal": {"2600:1f00::5efe:a9fe:a9fe"}}, wantReason: ReasonLinkLocal,
		},
		"CIDR entry opens the ISATAP form": {
			allow: []string{"10.0.0.0/8"}, url: "https://[2600:1f00::5efe:a01:203]/v2/", wantDial: "[2600:1f00::5efe:a01:203]:443",
		},
		"name entry does not open the Alibaba metadata address": {
			allow: []string{"harbor.internal"}, url: "https://harbor.internal/v2/",
			resolver: fakeResolver{"harbor.internal": {"100.100.100.200"}}, wantReason: ReasonCGNAT,
		},
		"name entry does not open multicast": {
			allow: []string{"harbor.internal"}, url: "https://harbor.internal/v2/",
			resolver: fakeResolver{"harbor.internal": {"224.0.0.1"}}, wantReason: ReasonMulticast,
		},
		"CIDR entry opens any name resolving into it": {
			allow: []string{"10.0.0.0/8"}, url: "https://anything.test/v2/",
			resolver: fakeResolver{"anything.test": {"10.200.0.1"}}, wantDial: "10.200.0.1:443",
		},
		"CIDR entry opens an IP literal": {
			allow: []string{"10.0.0.0/8"}, url: "https://10.1.2.3:5000/v2/", wantDial: "10.1.2.3:5000",
		},
		"CIDR entry opens the mapped form": {
			allow: []string{"10.0.0.0/8"}, url: "https://[::ffff:10.1.2.3]/v2/", wantDial: "10.1.2.3:443",
		},
		"CIDR entry opens the NAT64 form": {
			allow: []string{"10.0.0.0/8"}, url: "https://[64:ff9b::a01:203]/v2/", wantDial: "[64:ff9b::a01:203]:443",
		},
		"mapped CIDR entry opens the IPv4 address": {
			allow: []string{"::ffff:10.0.0.0/104"}, url: "https://10.1.2.3/v2/", wantDial: "10.1.2.3:443",
		},
		"CIDR entry does not open addresses outside it": {
			allow: []string{"10.0.0.0/8"}, url: "https://172.16.0.1/v2/", wantReason: ReasonPrivate,
		},
		"CIDR entry opens link-local": {
			allow: []string{"169.254.169.254/32"}, url: "https://md.test/v2/",
			resolver: fakeResolver{"md.test": {"169.254.169.254"}}, wantDial: "169.254.169.254:443",
		},
		"IP literal entry opens that literal": {
			allow: []string{"169.254.169.254"}, url: "https://169.254.169.254/v2/", wantDial: "169.254.169.254:443",
		},
		"IPv6 literal entry with port": {
			allow: []string{"[fd00::5]:8443"}, url: "https://[fd00::5]:8443/v2/", wantDial: "[fd00::5]:8443",
		},
		"IPv6 literal entry with port, other port": {
			allow: []string{"[fd00::5]:8443"}, url: "https://[fd00::5]/v2/", wantReason: ReasonPrivate,
		},
		"empty allowlist": {
			url: "https://10.1.2.3/v2/", wantReason: ReasonPrivate,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dl := &dialLog{}
			o := testOptions(dl, tc.resolver)
			o.AllowPrivate = tc.allow
			rt := newTestTransport(t, o, nil)
			_, _, err := get(t, rt, tc.url)
			if tc.wantDial != "" {
				if !errors.Is(err, errNotLoopback) {
					t.Fatalf("error = %v; want the test dialer's refusal", err)
				}
				if got := dl.dialled(); len(got) != 1 || got[0] != tc.wantDial {
					t.Errorf("dialled %v; want [%s]", got, tc.wantDial)
				}
				return
			}
			var be *BlockedError
			if !errors.As(err, &be) || be.Reason != tc.wantReason {
				t.Fatalf("error = %v; want *BlockedError %s", err, tc.wantReason)
			}
			if got := dl.dialled(); len(got) != 0 {
				t.Errorf("dialled %v; want no dial", got)
			}
		})
	}
}

// FuzzBlocked checks the classifier over arbitrary address bytes: it never panics, an IPv4
// address and its IPv4-mapped form get the same verdict, and the NAT64 form of an address is
// refused exactly when the address is.
func FuzzBlocked(f *testing.F) {
	for _, tc := range addressCases {
		a := netip.MustParseAddr(tc.addr)
		f.Add(a.AsSlice())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		reason, _ := classify(a)
		if _, ok := reasonText[reason]; reason != "" && !ok {
			t.Fatalf("classify(%s) = unknown reason %q", a, reason)
		}
		g := &guard{}
		blocked := g.check(a.String(), "443", a) != nil
		if blocked != (reason != "") {
			t.Fatalf("check(%s) blocked=%v but classify = %q", a, blocked, reason)
		}
		// The URL form of the address must parse back to a host the guard judges the same way.
		u, err := url.Parse("https://" + net.JoinHostPort(a.String(), "443") + "/v2/")
		if err != nil {
			t.Fatalf("url of %s: %v", a, err)
		}
		if back, err := netip.ParseAddr(u.Hostname()); err != nil || back != a {
			t.Fatalf("url host %q does not parse back to %s", u.Hostname(), a)
		}
		if !a.Unmap().Is4() {
			return
		}
		v4 := a.Unmap()
		mapped := netip.AddrFrom16(v4.As16())
		v4Reason, _ := classify(v4)
		if mappedReason, _ := classify(mapped); mappedReason != v4Reason {
			t.Fatalf("classify(%s) = %q but classify(%s) = %q", v4, v4Reason, mapped, mappedReason)
		}
		nat64 := nat64WellKnown.Addr().As16()
		copy(nat64[12:], v4.AsSlice())
		if nat64Reason, _ := classify(netip.AddrFrom16(nat64)); (nat64Reason != "") != (v4Reason != "") {
			t.Fatalf("classify(NAT64 of %s) = %q but classify(%s) = %q", v4, nat64Reason, v4, v4Reason)
		}
		// The ISATAP form under a public prefix reaches the embedded address over a tunnel.
		for _, iid := range [][4]byte{{0, 0, 0x5e, 0xfe}, {2, 0, 0x5e, 0xfe}} {
			isatap := netip.MustParseAddr("2600:1f00::").As16()
			copy(isatap[8:12], iid[:])
			copy(isatap[12:], v4.AsSlice())
			if r, _ := classify(netip.AddrFrom16(isatap)); v4Reason != "" && r != v4Reason {
				t.Fatalf("classify(ISATAP of %s) = %q but classify(%s) = %q", v4, r, v4, v4Reason)
			}
		}
	})
}
