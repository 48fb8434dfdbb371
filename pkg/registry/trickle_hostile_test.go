package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/testregistry"
)

// trickleRegistry answers manifest HEADs without a digest (so the engine GETs them) and
// trickles each GET's body one byte every 20 ms for as long as the client reads, as hosts.
func trickleRegistry(t *testing.T, e *env, hosts ...string) *atomic.Int64 {
	t.Helper()
	var inFlight atomic.Int64
	serveTLS(t, e.ca, e.net, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case strings.Contains(r.URL.Path, "/manifests/") && r.Method == http.MethodHead:
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.WriteHeader(http.StatusOK)
		case strings.Contains(r.URL.Path, "/manifests/"):
			inFlight.Add(1)
			defer inFlight.Add(-1)
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.WriteHeader(http.StatusOK)
			for {
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
					if _, err := io.WriteString(w, " "); err != nil {
						return
					}
					w.(http.Flusher).Flush()
				}
			}
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}), hosts...)
	return &inFlight
}

// TestTricklingRegistry: a registry that trickles its body is cut at the exchange timeout, and
// while it holds requests open, checks of a healthy registry still get their slots.
func TestTricklingRegistry(t *testing.T) {
	t.Run("trickled body cut at the exchange timeout", func(t *testing.T) {
		e := newEnv(t)
		trickleRegistry(t, e, "slow.example.com")
		opts := e.options()
		opts.Limits.ExchangeTimeout = 300 * time.Millisecond
		// The caller's deadline is far: only the exchange timeout can end the read first (the
		// caller's own end would say "did not finish before the admission deadline").
		v := e.checker(opts).Check(ctxTimeout(t, 20*time.Second), Request{Image: "slow.example.com/team/app:v1"})
		assertVerdict(t, v, Unverifiable, ClassTimeout, []string{"did not answer in time"}, nil)
	})
	t.Run("one host cannot hold every slot", func(t *testing.T) {
		e := newEnv(t)
		inFlight := trickleRegistry(t, e, "slow.example.com")
		healthy := e.registry(testregistry.Config{}, "reg.example.com")
		push(t, healthy, "team/app:v1")
		opts := e.options()
		opts.MaxConcurrentRequests = 4
		opts.Limits.MaxRequestsPerHost = 2
		opts.Limits.ExchangeTimeout = 20 * time.Second
		c := e.checker(opts)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, tag := range []string{"a", "b", "c", "d", "e", "f"} {
			wg.Go(func() { c.Check(ctx, Request{Image: "slow.example.com/team/app:" + tag}) })
		}
		t.Cleanup(func() { cancel(); wg.Wait() })
		for deadline := time.Now().Add(10 * time.Second); inFlight.Load() < 2 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if n := inFlight.Load(); n != 2 {
			t.Fatalf("%d trickled requests in flight, want the per-host cap of 2", n)
		}
		v := c.Check(ctxTimeout(t, 10*time.Second), Request{Image: "reg.example.com/team/app:v1"})
		assertVerdict(t, v, Pullable, ClassOK, nil, nil)
	})
	t.Run("many host names of one domain cannot hold every slot", func(t *testing.T) {
		e := newEnv(t)
		var hosts []string
		for i := range 6 {
			hosts = append(hosts, fmt.Sprintf("h%d.evil.example.net", i))
		}
		inFlight := trickleRegistry(t, e, hosts...)
		healthy := e.registry(testregistry.Config{}, "reg.example.com")
		push(t, healthy, "team/app:v1")
		opts := e.options()
		// Six hosts at two each would hold all eight slots; their domain gets four.
		opts.MaxConcurrentRequests = 8
		opts.Limits.MaxRequestsPerHost, opts.Limits.MaxRequestsPerDomain = 2, 4
		opts.Limits.ExchangeTimeout = 20 * time.Second
		c := e.checker(opts)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, h := range hosts {
			for _, tag := range []string{"a", "b", "c"} {
				wg.Go(func() { c.Check(ctx, Request{Image: h + "/team/app:" + tag}) })
			}
		}
		t.Cleanup(func() { cancel(); wg.Wait() })
		for deadline := time.Now().Add(10 * time.Second); inFlight.Load() < 4 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // a request past the cap would show by now
		if n := inFlight.Load(); n != 4 {
			t.Fatalf("%d trickled requests in flight, want the per-domain cap of 4", n)
		}
		v := c.Check(ctxTimeout(t, 10*time.Second), Request{Image: "reg.example.com/team/app:v1"})
		assertVerdict(t, v, Pullable, ClassOK, nil, nil)
	})
}

func TestRegistrableDomain(t *testing.T) {
	tests := map[string]string{
		"reg.example.com":             "example.com",
		"a.b.evil.example.net:5000":   "example.net",
		"registry-1.docker.io":        "docker.io",
		"Reg.Example.COM.":            "example.com",
		"us-docker.pkg.dev":           "pkg.dev",
		"alice.github.io":             "alice.github.io", // a private suffix of the list
		"github.io":                   "github.io",       // a public suffix is itself
		"localhost:5000":              "localhost",
		"203.0.113.7:443":             "203.0.113.7",
		"[2001:db8:1:2:3:4:5:6]:5000": "2001:db8:1:2::/64",
		"[2001:db8:1:2::ffff]":        "2001:db8:1:2::/64",
		"[::ffff:203.0.113.7]:443":    "203.0.113.7",
		"[fe80::1%25eth0]:5000":       "fe80::/64",
	}
	for host, want := range tests {
		t.Run(host, func(t *testing.T) {
			if got := registrableDomain(host); got != want {
				t.Errorf("registrableDomain(%q) = %q, want %q", host, got, want)
			}
		})
	}
}

// TestSlotHost: one server under any spelling of its host and port is one per-host budget;
// another port or scheme's default is another.
func TestSlotHost(t *testing.T) {
	tests := map[string]struct{ url, want string }{
		"plain":                  {"https://reg.example.com/v2/", "reg.example.com:443"},
		"case and root dot":      {"https://Reg.Example.COM./v2/", "reg.example.com:443"},
		"default port written":   {"https://reg.example.com:443/v2/", "reg.example.com:443"},
		"another port":           {"https://reg.example.com:5000/v2/", "reg.example.com:5000"},
		"plain HTTP":             {"http://reg.example.com/v2/", "reg.example.com:80"},
		"IPv4-mapped IPv6":       {"https://[::ffff:203.0.113.7]/v2/", "203.0.113.7:443"},
		"IPv6 literal with port": {"https://[2001:db8::1]:5000/v2/", "[2001:db8::1]:5000"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := slotHost(u); got != tc.want {
				t.Errorf("slotHost(%s) = %q, want %q", tc.url, got, tc.want)
			}
		})
	}
}
