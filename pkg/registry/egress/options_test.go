package egress

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// hostCases maps configured host entries to whether they are valid.
var hostCases = map[string]bool{
	"registry.example":      true,
	"Registry.Example:5000": true,
	"localhost":             true,
	"my-registry":           true,
	"10.0.0.1":              true,
	"10.0.0.1:5000":         true,
	"::1":                   true,
	"fd00::1":               true,
	"[::1]:5000":            true,
	"[fd00::1]":             true,
	"":                      false,
	"https://registry.test": false,
	"registry.test/v2":      false,
	"user@registry.test":    false,
	"registry.test:":        false,
	"registry.test:0":       false,
	"registry.test:65536":   false,
	"registry.test:+80":     false,
	"registry.test:http":    false,
	"-registry.test":        false,
	"registry-.test":        false,
	"a..b":                  false,
	"*.example.com":         false,
	"registry_1.test":       false,
	"reg istry":             false,
	"[::1":                  false,
	"[10.0.0.1]:5000":       false,
	"[::1]x":                false,
	"fe80::1%eth0":          false,
	"10.0.0.0/8":            false,
	strings.Repeat("a", 64): false,
}

func TestValidHost(t *testing.T) {
	for in, want := range hostCases {
		t.Run(in, func(t *testing.T) {
			if got := validHost(in); got != want {
				t.Errorf("validHost(%q) = %v; want %v", in, got, want)
			}
		})
	}
}

// FuzzSplitHostPort checks the host[:port] parser: it never panics, and what it accepts is
// canonical and reads back unchanged.
func FuzzSplitHostPort(f *testing.F) {
	for in := range hostCases {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := splitHostPort(s)
		if err != nil {
			return
		}
		if CanonicalHost(host) != host {
			t.Fatalf("splitHostPort(%q) host %q is not canonical", s, host)
		}
		again := host
		switch {
		case port != "":
			again = net.JoinHostPort(host, port)
		case strings.Contains(host, ":"):
			again = "[" + host + "]"
		}
		h2, p2, err := splitHostPort(again)
		if err != nil || h2 != host || p2 != port {
			t.Fatalf("splitHostPort(%q) = %q, %q; reading back %q gave %q, %q, %v", s, host, port, again, h2, p2, err)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		mutate  func(*Options)
		wantErr string // substring of the error; "" = valid
	}{
		"defaults":                     {mutate: func(*Options) {}},
		"CIDR and host entries":        {mutate: func(o *Options) { o.AllowPrivate = []string{"10.0.0.0/8", "fd00::/8", "harbor.internal:443"} }},
		"bad allowlist entry":          {mutate: func(o *Options) { o.AllowPrivate = []string{"10.0.0.0/33"} }, wantErr: "neither a CIDR nor a host"},
		"empty allowlist entry":        {mutate: func(o *Options) { o.AllowPrivate = []string{""} }, wantErr: "empty entry"},
		"bad insecure entry":           {mutate: func(o *Options) { o.InsecureRegistries = []string{"http://reg"} }, wantErr: "not a host[:port]"},
		"http proxy":                   {mutate: func(o *Options) { o.Proxy = "http://proxy.internal:3128" }},
		"https proxy with credentials": {mutate: func(o *Options) { o.Proxy = "https://user:pw@proxy.internal" }},
		"socks proxy":                  {mutate: func(o *Options) { o.Proxy = "socks5://proxy.internal:1080" }, wantErr: "must be http(s)://host[:port]"},
		"proxy without host":           {mutate: func(o *Options) { o.Proxy = "http://" }, wantErr: "must be http(s)://host[:port]"},
		"proxy with a path, credentials redacted": {
			mutate:  func(o *Options) { o.Proxy = "http://user:hunter2@proxy.internal/x?token=hunter2" },
			wantErr: `"http://proxy.internal/x" must be`,
		},
		"unparsable proxy":   {mutate: func(o *Options) { o.Proxy = "http://user:hunter2@[::1" }, wantErr: "not a valid URL"},
		"zero timeout":       {mutate: func(o *Options) { o.DialTimeout = 0 }, wantErr: "timeouts must be positive"},
		"zero cap":           {mutate: func(o *Options) { o.MaxTokenBytes = 0 }, wantErr: "caps must be positive"},
		"too many redirects": {mutate: func(o *Options) { o.MaxRedirects = 11 }, wantErr: "max redirects"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := DefaultOptions()
			tc.mutate(&o)
			err := o.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Validate = %v; want an error containing %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Fatalf("error leaks the proxy credentials: %v", err)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	tests := map[string]struct {
		err  error
		want string
	}{
		"name resolving to a private address": {
			err:  &BlockedError{Host: "harbor.internal", Addr: netip.MustParseAddr("10.0.0.5"), Reason: ReasonPrivate},
			want: `registry host "harbor.internal" resolves to 10.0.0.5 (private); add it to --allow-private-registries to allow it`,
		},
		"name resolving to metadata": {
			err:  &BlockedError{Host: "x", Addr: netip.MustParseAddr("169.254.169.254"), Reason: ReasonLinkLocal, cidrOnly: true},
			want: `registry host "x" resolves to 169.254.169.254 (link-local); add 169.254.169.254/32 to --allow-private-registries to allow it`,
		},
		"IP literal": {
			err:  &BlockedError{Host: "fd00:ec2::254", Addr: netip.MustParseAddr("fd00:ec2::254"), Reason: ReasonPrivate},
			want: `registry host fd00:ec2::254 is not a public address (private); add it to --allow-private-registries to allow it`,
		},
		"plain http": {
			err:  &PlainHTTPError{Host: "10.1.2.3:5000"},
			want: `plain HTTP to registry host "10.1.2.3:5000" refused; add it to --insecure-registries to allow it`,
		},
		"downgrade": {
			err:  &PlainHTTPError{Host: "cdn.test", Downgrade: true},
			want: `plain HTTP to registry host "cdn.test" refused (redirected from HTTPS); add it to --insecure-registries to allow it`,
		},
		"redirects": {
			err:  &TooManyRedirectsError{Limit: 3},
			want: `registry request stopped after 3 redirects`,
		},
		"manifest too large": {
			err:  &ResponseTooLargeError{URL: "https://r.test/v2/a/manifests/b", Limit: 4 << 20, Kind: KindManifest, StatusCode: 200},
			want: `manifest response from https://r.test/v2/a/manifests/b is larger than the 4 MiB limit`,
		},
		"error body too large": {
			err:  &ResponseTooLargeError{URL: "https://r.test/v2/a/manifests/b", Limit: 64 << 10, Kind: KindError, StatusCode: 404},
			want: `error response (HTTP 404) from https://r.test/v2/a/manifests/b is larger than the 64 KiB limit`,
		},
		"odd limit": {
			err:  &ResponseTooLargeError{URL: "https://auth.test/token", Limit: 1000, Kind: KindToken, StatusCode: 200},
			want: `token response from https://auth.test/token is larger than the 1000 bytes limit`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
