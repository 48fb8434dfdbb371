package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Metrics receives one call per refused connection or request. reason is one of Reasons.
type Metrics interface {
	Blocked(reason string)
}

type noMetrics struct{}

func (noMetrics) Blocked(string) {}

const (
	// Registry headers are small (WWW-Authenticate, Link, Docker-Content-Digest); the 10 MB
	// net/http default would let each of many concurrent checks hold megabytes.
	maxResponseHeaderBytes = 256 << 10
	// Admission traffic fans out to a few registries and their token services.
	maxIdleConnsPerHost = 16
	maxIdleConns        = 128
	idleConnTimeout     = 90 * time.Second
)

// New builds the RoundTripper for registry and token traffic. metrics may be nil.
//
// Pass the result to go-containerregistry as is (remote.WithTransport(rt)), not inside a
// *transport.Wrapper: see the package documentation.
func New(opts Options, metrics Metrics) (http.RoundTripper, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if metrics == nil {
		metrics = noMetrics{}
	}
	g, err := newGuard(opts, metrics)
	if err != nil {
		return nil, err
	}
	insecure, err := parseHostList(opts.InsecureRegistries)
	if err != nil {
		return nil, fmt.Errorf("insecure registries: %w", err)
	}
	tlsConfig, err := newTLSConfig(opts.CAFile)
	if err != nil {
		return nil, err
	}
	inner := &http.Transport{
		// Never the environment's proxy: a proxy resolves names itself, out of the guard's sight.
		Proxy:                  nil,
		DialContext:            g.dialContext,
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    opts.TLSHandshakeTimeout,
		ResponseHeaderTimeout:  opts.ResponseHeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           maxIdleConns,
		MaxIdleConnsPerHost:    maxIdleConnsPerHost,
		IdleConnTimeout:        idleConnTimeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		// The caps then count the bytes the registry sent, and Content-Length stays usable for
		// the up-front check; registry JSON is small enough not to need compression.
		DisableCompression: true,
	}
	if opts.Proxy != "" {
		u, err := parseProxy(opts.Proxy)
		if err != nil {
			return nil, err
		}
		inner.Proxy = http.ProxyURL(u)
	}
	return &roundTripper{
		inner:            inner,
		guard:            g,
		insecure:         insecure,
		proxied:          opts.Proxy != "",
		metrics:          metrics,
		maxRedirects:     opts.MaxRedirects,
		maxManifestBytes: opts.MaxManifestBytes,
		maxTokenBytes:    opts.MaxTokenBytes,
		maxErrorBytes:    opts.MaxErrorBytes,
	}, nil
}

func newTLSConfig(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil // nil RootCAs: the system roots
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading registry CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		return nil, fmt.Errorf("loading system CA roots: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("registry CA bundle %s holds no PEM certificate", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

type roundTripper struct {
	inner    *http.Transport
	guard    *guard
	insecure hostList
	proxied  bool
	metrics  Metrics

	maxRedirects     int
	maxManifestBytes int64
	maxTokenBytes    int64
	maxErrorBytes    int64
}

// RoundTrip refuses what policy forbids before any connection, then caps the response body.
func (t *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	origin, hops := redirectChain(req)
	if err := t.admit(req, hops); err != nil {
		if req.Body != nil {
			req.Body.Close() // the RoundTripper contract: the body is closed even on error
		}
		return nil, err
	}
	resp, err := t.inner.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	return t.capBody(origin, req, resp)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the pool.
func (t *roundTripper) CloseIdleConnections() {
	t.inner.CloseIdleConnections()
}

// redirectChain returns the first request of the redirect chain req belongs to and the
// number of redirects that led to req. http.Client links each redirected request to the
// response that caused it, and go-containerregistry's wrappers pass requests through, so the
// count holds for every client above us, whatever its CheckRedirect.
func redirectChain(req *http.Request) (*http.Request, int) {
	origin, hops := req, 0
	for origin.Response != nil && origin.Response.Request != nil {
		origin = origin.Response.Request
		hops++
	}
	return origin, hops
}

func (t *roundTripper) admit(req *http.Request, hops int) error {
	if hops > t.maxRedirects {
		t.metrics.Blocked(ReasonRedirects)
		return &TooManyRedirectsError{Limit: t.maxRedirects}
	}
	host, port := req.URL.Hostname(), req.URL.Port()
	if port == "" {
		port = "443"
		if req.URL.Scheme == "http" {
			port = "80"
		}
	}
	// An IP literal needs no lookup, so it is judged here, before the scheme: the address class
	// is the more useful reason, and the dialer would reach the same verdict anyway.
	_, literalErr := netip.ParseAddr(host)
	if literalErr == nil {
		if err := t.authorize(req, host, port); err != nil {
			return err
		}
	}
	if req.URL.Scheme == "http" {
		if _, ok := t.insecure.match(host, port); !ok {
			t.metrics.Blocked(ReasonPlainHTTP)
			downgrade := hops > 0 && req.Response.Request.URL.Scheme == "https"
			return &PlainHTTPError{Host: req.URL.Host, Downgrade: downgrade}
		}
	}
	if t.proxied && literalErr != nil {
		// Through a proxy the dialer only sees the proxy, and the proxy resolves the name on its
		// own; this lookup is the best check left. It cannot stop DNS rebinding between our
		// lookup and the proxy's: enforce the policy in the proxy too.
		if err := t.authorize(req, host, port); err != nil {
			return err
		}
	}
	return nil
}

// authorize runs the address guard for a request's target, bounded like a dial.
func (t *roundTripper) authorize(req *http.Request, host, port string) error {
	ctx, cancel := context.WithTimeout(req.Context(), t.guard.timeout)
	defer cancel()
	_, err := t.guard.authorize(ctx, host, port)
	return err
}

// capBody enforces the response cap of the chain's original request: the cap belongs to what
// was asked for (a manifest, a token), not to wherever a redirect led.
func (t *roundTripper) capBody(origin, req *http.Request, resp *http.Response) (*http.Response, error) {
	// After HEAD, Content-Length describes a body that is not sent (and HTTP/2 does not use
	// http.NoBody for it).
	if req.Method == http.MethodHead || resp.Body == nil || resp.Body == http.NoBody {
		return resp, nil
	}
	limit, kind := t.limitFor(origin.URL.Path, resp.StatusCode)
	tooLarge := &ResponseTooLargeError{URL: redactURL(req.URL), Limit: limit, Kind: kind, StatusCode: resp.StatusCode}
	if resp.ContentLength > limit {
		resp.Body.Close() // without reading: closing an unread body drops the connection
		return nil, tooLarge
	}
	resp.Body = &cappedBody{rc: resp.Body, remaining: limit, tooLarge: tooLarge}
	return resp, nil
}

func (t *roundTripper) limitFor(path string, status int) (int64, string) {
	switch {
	case status >= 400:
		return t.maxErrorBytes, KindError
	case strings.Contains(path, "/manifests/"):
		return t.maxManifestBytes, KindManifest
	case strings.HasPrefix(path, "/v2/"):
		return t.maxManifestBytes, KindRegistry
	}
	return t.maxTokenBytes, KindToken
}

// cappedBody fails the read that passes the cap instead of ending the body early: a truncated
// manifest would hash to a wrong digest and a truncated token would be misread.
type cappedBody struct {
	rc        io.ReadCloser
	remaining int64
	tooLarge  *ResponseTooLargeError
	exceeded  bool
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.exceeded {
		return 0, b.tooLarge
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining+1] // one byte past the cap tells "exactly at" from "over"
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.remaining {
		n, b.remaining, b.exceeded = int(b.remaining), 0, true
		return n, b.tooLarge
	}
	b.remaining -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error {
	return b.rc.Close()
}
