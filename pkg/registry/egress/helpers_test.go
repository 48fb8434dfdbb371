package egress

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// errNotLoopback is what the test dialer answers for any destination but 127.0.0.1 and ::1:
// no test may send a packet off the machine, even when the code under test is broken.
var errNotLoopback = errors.New("test dialer: refusing a non-loopback destination")

// dialLog is the injected Options.Dial: it records every destination and connects only to
// loopback literals.
type dialLog struct {
	mu    sync.Mutex
	addrs []string
	// blackhole is a destination whose dial hangs until its context ends, like a SYN lost
	// on a broken route (no packet is sent).
	blackhole string
}

func (d *dialLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	if addr == d.blackhole {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if host != "127.0.0.1" && host != "::1" {
		return nil, errNotLoopback
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

func (d *dialLog) dialled() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.addrs)
}

// assertOnlyLoopbackDials fails the test if anything but a loopback literal was dialled.
func (d *dialLog) assertOnlyLoopback(t *testing.T) {
	t.Helper()
	for _, a := range d.dialled() {
		if host, _, _ := net.SplitHostPort(a); host != "127.0.0.1" && host != "::1" {
			t.Errorf("dialled %s; want loopback destinations only", a)
		}
	}
}

// fakeResolver maps names to addresses; an unknown name is NXDOMAIN.
type fakeResolver map[string][]string

func (r fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if strings.TrimSuffix(host, ".") == "slow.test" {
		<-ctx.Done()
		return nil, &net.DNSError{Err: ctx.Err().Error(), Name: host, IsTimeout: true}
	}
	raw, ok := r[host]
	if !ok {
		raw, ok = r[strings.TrimSuffix(host, ".")] // a rooted name is the same name
	}
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	addrs := make([]netip.Addr, 0, len(raw))
	for _, s := range raw {
		addrs = append(addrs, netip.MustParseAddr(s))
	}
	return addrs, nil
}

// searchResolver resolves as a stub resolver with a search list does: a name with fewer than
// ndots dots and no root dot is first tried with each search domain appended.
type searchResolver struct {
	search  []string
	ndots   int
	records fakeResolver
	mu      sync.Mutex
	queries []string
}

func (r *searchResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.queries = append(r.queries, host)
	r.mu.Unlock()
	if name, ok := strings.CutSuffix(host, "."); ok {
		return r.records.LookupNetIP(ctx, network, name)
	}
	if strings.Count(host, ".") < r.ndots {
		for _, domain := range r.search {
			if addrs, err := r.records.LookupNetIP(ctx, network, host+"."+domain); err == nil {
				return addrs, nil
			}
		}
	}
	return r.records.LookupNetIP(ctx, network, host)
}

// countingMetrics records Metrics.Blocked calls.
type countingMetrics struct {
	mu     sync.Mutex
	counts map[string]int
}

func (m *countingMetrics) Blocked(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = map[string]int{}
	}
	m.counts[reason]++
}

func (m *countingMetrics) snapshot() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for k, v := range m.counts {
		out[k] = v
	}
	return out
}

// testOptions returns options wired to the recording dialer and the fake resolver, with
// timeouts that keep a broken test short.
func testOptions(dl *dialLog, res fakeResolver) Options {
	o := DefaultOptions()
	o.Dial = dl.dial
	o.Resolver = res
	o.DialTimeout = 2 * time.Second
	o.TLSHandshakeTimeout = 2 * time.Second
	o.ResponseHeaderTimeout = 2 * time.Second
	return o
}

// newTestTransport builds the RoundTripper and closes its idle connections when the test ends.
func newTestTransport(t *testing.T, o Options, m Metrics) http.RoundTripper {
	t.Helper()
	rt, err := New(o, m)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(rt.(*roundTripper).CloseIdleConnections)
	return rt
}

// writeCA writes the certificate of an httptest TLS server as a PEM bundle.
func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// get sends one GET through a client over rt, bounded in time, and returns the body.
func get(t *testing.T, rt http.RoundTripper, url string) (*http.Response, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}
