package testregistry

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault makes a registry misbehave; see Faults.Set. By default it applies to manifest requests
// only (All and Blobs widen or move that); RTT applies to every request.
type Fault struct {
	// RTT holds every request this long before anything else happens: a registry across a network
	// rather than on loopback.
	RTT time.Duration
	// Status, when non-zero, is answered instead of the real response, with a registry error body
	// (TOOMANYREQUESTS for 429, UNAVAILABLE otherwise).
	Status int
	// RetryAfter is sent as the Retry-After header with Status.
	RetryAfter string
	// Hang holds the request open without answering until the client goes away or the registry
	// is closed.
	Hang bool
	// Reset resets the TCP connection (RST instead of FIN) after reading the request. It needs an
	// HTTP/1.1 connection: over HTTP/2 a handler can only reset its stream.
	Reset bool
	// All applies the fault to every request (ping and token included), not only to manifest
	// requests; Blobs to blob (and any other non-manifest /v2/) requests only.
	All   bool
	Blobs bool
	// ManifestBytes, when positive, answers manifest requests with a body of that many bytes.
	ManifestBytes int64
	// NoHeadDigest drops Docker-Content-Digest from manifest HEAD responses (old registries do).
	NoHeadDigest bool
	// Delay holds each affected request this long before it is served (or faulted).
	Delay time.Duration
	// Times limits the fault to the first Times affected requests (0: every one).
	Times int64
}

// affects reports whether the fault applies to a request of kind k.
func (f *Fault) affects(k Kind) bool {
	manifest := k == KindManifestHead || k == KindManifestGet
	return f.All || (f.Blobs && k == KindOther) || (!f.Blobs && manifest)
}

// Faults is the one fault injector of every fake registry and registry front: a handler
// wrapper that misbehaves as the current Fault says and otherwise passes requests on.
type Faults struct {
	fault atomic.Pointer[Fault]
	// faulted counts the requests the current fault applied to, for Fault.Times.
	faulted atomic.Int64
	closing chan struct{}
	once    sync.Once
}

// NewFaults returns a Faults with no fault.
func NewFaults() *Faults { return &Faults{closing: make(chan struct{})} }

// Set makes the wrapped handler misbehave from now on; the zero Fault restores normal service.
func (fs *Faults) Set(f Fault) {
	fs.faulted.Store(0)
	fs.fault.Store(&f)
}

// Close releases every request the fault holds, and any it would hold later.
func (fs *Faults) Close() { fs.once.Do(func() { close(fs.closing) }) }

// Handler wraps next with the fault.
func (fs *Faults) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		f := fs.fault.Load()
		if f == nil {
			next.ServeHTTP(w, req)
			return
		}
		if !fs.wait(req.Context(), f.RTT, false) {
			abort()
		}
		kind := kindOf(req)
		if !f.affects(kind) {
			next.ServeHTTP(w, req)
			return
		}
		if n := fs.faulted.Add(1); f.Times > 0 && n > f.Times {
			next.ServeHTTP(w, req)
			return
		}
		if !fs.wait(req.Context(), f.Delay, f.Hang) {
			abort()
		}
		if f.NoHeadDigest && kind == KindManifestHead {
			w = &dropDigest{ResponseWriter: w}
		}
		if !misbehave(w, req, f, kind) {
			next.ServeHTTP(w, req)
		}
	})
}

// abort ends a held request without an answer. Returning from the handler instead would send
// an empty 200: a client whose own deadline cancelled the request can still read it (the server
// notices the cancellation and answers before the client's transport has dropped the
// connection), and a 200 to the /v2/ ping tells go-containerregistry that the registry wants no
// authentication at all. A real registry never answers a request it did not serve.
func abort() { panic(http.ErrAbortHandler) }

// wait sleeps for d (until released with hang) unless the request or the Faults end first, and
// reports whether the request should go on.
func (fs *Faults) wait(ctx context.Context, d time.Duration, hang bool) bool {
	if !hang && d <= 0 {
		return true
	}
	var timeout <-chan time.Time
	if !hang {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-ctx.Done():
	case <-fs.closing:
	}
	return false
}

// misbehave answers req according to f and reports whether it did.
func misbehave(w http.ResponseWriter, req *http.Request, f *Fault, kind Kind) bool {
	switch {
	case f.Reset:
		hj, ok := w.(http.Hijacker)
		if !ok {
			return false
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			return true
		}
		if tc, ok := conn.(*tls.Conn); ok {
			if tcp, ok := tc.NetConn().(*net.TCPConn); ok {
				_ = tcp.SetLinger(0) // close with RST instead of FIN
			}
		}
		_ = conn.Close()
		return true
	case f.Status != 0:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		code := "UNAVAILABLE"
		if f.Status == http.StatusTooManyRequests {
			code = "TOOMANYREQUESTS"
		}
		WriteError(w, f.Status, code, http.StatusText(f.Status))
		return true
	case f.ManifestBytes > 0 && (kind == KindManifestHead || kind == KindManifestGet):
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("0", 64))
		w.Header().Set("Content-Length", fmt.Sprint(f.ManifestBytes))
		w.WriteHeader(http.StatusOK)
		if req.Method == http.MethodGet {
			chunk := []byte(strings.Repeat("x", 32<<10))
			for left := f.ManifestBytes; left > 0; left -= int64(len(chunk)) {
				if left < int64(len(chunk)) {
					chunk = chunk[:left]
				}
				if _, err := w.Write(chunk); err != nil {
					break
				}
			}
		}
		return true
	}
	return false
}

// dropDigest removes Docker-Content-Digest from a response, as some old registries do on HEAD.
type dropDigest struct{ http.ResponseWriter }

func (d *dropDigest) WriteHeader(status int) {
	d.Header().Del("Docker-Content-Digest")
	d.ResponseWriter.WriteHeader(status)
}

// WriteError answers with a registry error body (the distribution spec's errors array).
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]string{{"code": code, "message": msg}},
	})
}
