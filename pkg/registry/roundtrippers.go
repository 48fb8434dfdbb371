package registry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/semaphore"
)

// The engine's transport stack, outermost first:
//
//	go-containerregistry (auth handshake, bearer refresh; its own retry layer is configured to
//	  never retry, see pullerOptions)
//	→ namespaceTransport: ?ns=<registry> on requests to a mirror
//	→ retryTransport: at most MaxRetries retries of 5xx and connection resets, never 429, only when
//	  the caller's deadline leaves room
//	→ upstreamTransport: global concurrency limit, request counting, Retry-After capture
//	→ egress transport: network guard, timeouts, TLS, response caps
//
// Retries live here rather than in go-containerregistry because its retry layer backs off for
// 1 s and 3 s, retries 429 and knows nothing about the caller's deadline. It cannot simply be
// bypassed by handing it a *transport.Wrapper: transport.NewWithContext treats a Wrapper as
// "already authenticated" and skips the ping and token exchange, so credentials would never be
// sent.

// namespaceTransport adds ?ns=<registry> to the /v2/ requests of a check sent to a mirror (see
// withNamespace), as containerd does: mirrors that serve several registries route by it.
type namespaceTransport struct{ inner http.RoundTripper }

type namespaceKey struct{}

type namespace struct{ mirror, registry string }

// withNamespace marks ctx as a check of registry's image on mirror.
func withNamespace(ctx context.Context, mirror, registry string) context.Context {
	return context.WithValue(ctx, namespaceKey{}, namespace{mirror: mirror, registry: registry})
}

func (t *namespaceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ns, ok := req.Context().Value(namespaceKey{}).(namespace)
	if !ok || req.URL.Host != ns.mirror || !strings.HasPrefix(req.URL.Path, "/v2/") {
		return t.inner.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	q := req.URL.Query()
	q.Set("ns", ns.registry)
	req.URL.RawQuery = q.Encode()
	return t.inner.RoundTrip(req)
}

// retryTransport retries a request after a transient failure.
type retryTransport struct {
	inner   http.RoundTripper
	retries int
	backoff time.Duration
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		start := time.Now()
		resp, err := t.inner.RoundTrip(req)
		if attempt >= t.retries || !retryable(req, resp, err) || !fits(req.Context(), t.backoff+time.Since(start)) {
			return resp, err
		}
		if resp != nil {
			// Drain a little so the connection can be reused; the error body is capped anyway.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
			_ = resp.Body.Close()
		}
		timer := time.NewTimer(t.backoff)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		case <-timer.C:
		}
	}
}

// retryable reports whether a failed attempt may be repeated: only requests without a body,
// only server errors that say "try again" and connection resets. 429 is never retried: the
// registry asked us to slow down, and the nodes' quota is not ours to spend.
func retryable(req *http.Request, resp *http.Response, err error) bool {
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	if err != nil {
		return errors.Is(err, syscall.ECONNRESET)
	}
	switch resp.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// fits reports whether ctx leaves more than need before its deadline. need is the backoff plus
// the duration of the attempt that just failed, our best guess of what a retry costs.
func fits(ctx context.Context, need time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > need
}

// upstreamTransport bounds concurrent round trips, counts them by kind, and records the
// Retry-After of a 429 for the message (go-containerregistry's errors do not carry headers).
type upstreamTransport struct {
	inner   http.RoundTripper
	sem     *semaphore.Weighted
	metrics *metrics
	// hosts and domains cap the round trips to one host and to one registrable domain
	// (Limits.MaxRequestsPerHost, MaxRequestsPerDomain).
	hosts, domains *keySlots
	// exchangeTimeout bounds a whole round trip, body included (Limits.ExchangeTimeout): the
	// transport's own timeouts end with the response headers, and a registry may then trickle
	// its body for as long as it likes.
	exchangeTimeout time.Duration
}

func (t *upstreamTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.exchangeTimeout)
	req = req.WithContext(ctx)
	// Narrowest first: a request waiting for its domain's or the global slots holds only a slot
	// of its own host, which no other host needs.
	freeHost, err := t.hosts.acquire(ctx, slotHost(req.URL))
	if err != nil {
		cancel()
		return nil, err
	}
	freeDomain, err := t.domains.acquire(ctx, registrableDomain(req.URL.Host))
	if err != nil {
		freeHost()
		cancel()
		return nil, err
	}
	if err := t.sem.Acquire(ctx, 1); err != nil {
		freeDomain()
		freeHost()
		cancel()
		return nil, err
	}
	release := sync.OnceFunc(func() { t.sem.Release(1); freeDomain(); freeHost(); cancel() })
	t.metrics.upstream.WithLabelValues(requestKind(req)).Inc()
	resp, err := t.inner.RoundTrip(req)
	if err != nil {
		release()
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		if tr := traceFrom(req.Context()); tr != nil {
			tr.setRetryAfter(resp.Header.Get("Retry-After"))
		}
	case http.StatusUnauthorized:
		noteChallenge(req, resp)
	}
	// The slot is held until the body is closed: reading the body is part of the round trip.
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release, ctx: ctx}
	return resp, nil
}

type releasingBody struct {
	io.ReadCloser
	release func()
	ctx     context.Context
}

// Read never lets a body cut by the exchange timeout look complete: HTTP/2 may end it with
// io.EOF, and a truncated manifest would hash to a digest of its own.
func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && b.ctx.Err() != nil {
		err = b.ctx.Err()
	}
	return n, err
}

func (b *releasingBody) Close() error {
	defer b.release()
	return b.ReadCloser.Close()
}

// requestKind names a request for the upstream counter. Everything outside /v2/ is a bearer
// token realm.
func requestKind(req *http.Request) string {
	path := req.URL.Path
	switch {
	case !strings.HasPrefix(path, "/v2/") && path != "/v2":
		return kindToken
	case strings.Contains(path, "/manifests/") && req.Method == http.MethodHead:
		return kindManifestHead
	case strings.Contains(path, "/manifests/") && req.Method == http.MethodGet:
		return kindManifestGet
	}
	return kindOther
}
