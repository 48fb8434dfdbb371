package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/pullguard/pullguard/internal/testbed"
)

// Fault is how a FaultFront misbehaves. The zero Fault forwards everything untouched.
type Fault struct {
	// RTT holds every request this long before it is forwarded: a registry across a network
	// rather than on loopback (combine with Token.Delay for its token service).
	RTT time.Duration
	// Delay holds each manifest request this long before it is forwarded (or faulted).
	Delay time.Duration
	// Hang holds manifest requests until the client gives up.
	Hang bool
	// Status answers manifest requests with this status and a registry error body.
	Status int
	// RetryAfter is sent as Retry-After with Status.
	RetryAfter string
	// Reset resets the TCP connection (RST) after reading a manifest request.
	Reset bool
	// UntrustedCertificate serves a certificate from a CA the webhook does not trust, so every
	// TLS handshake fails.
	UntrustedCertificate bool
	// Token, when set, replaces the token service: the registry's Bearer challenges name a
	// token front that misbehaves as described.
	Token *TokenFault
}

// TokenFault is how the token front misbehaves.
type TokenFault struct {
	// Down: nothing listens at the realm (connection refused).
	Down bool
	// Delay holds each token request this long before forwarding it.
	Delay time.Duration
	// Hang holds token requests until the client gives up.
	Hang bool
}

// FaultFront is a TLS server on loopback in front of the bed's token-auth registry that
// misbehaves as its Fault says on manifest requests (and, through a token front, on token
// requests), and forwards everything else. Each front has its own address, so the images it
// serves share no cache entry with any other front's.
type FaultFront struct {
	// Host is 127.0.0.1:port, as written in image references.
	Host string

	srv      *http.Server
	listener net.Listener
	token    *http.Server
	closing  chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
}

// Ref is repoTag ("demo/web:1.0") on this front.
func (f *FaultFront) Ref(repoTag string) string { return f.Host + "/" + repoTag }

var realmPattern = regexp.MustCompile(`realm="https://localhost:(\d+)/token"`)

// StartFaultFront starts a front with fault in front of c.Bed.Registry. It stops with the cluster.
func (c *Cluster) StartFaultFront(fault Fault) (*FaultFront, error) {
	f := &FaultFront{closing: make(chan struct{})}
	serverTLS := c.Bed.LoopbackServerTLS()
	if fault.UntrustedCertificate {
		l, err := testbed.NewLoopbackTLS(filepath.Join(c.Bed.Dir, fmt.Sprintf("bench-untrusted-%d", time.Now().UnixNano())))
		if err != nil {
			return nil, err
		}
		serverTLS = &tls.Config{Certificates: []tls.Certificate{l.Pair}, MinVersion: tls.VersionTLS12}
	}
	upstream := &url.URL{Scheme: "https", Host: c.Bed.Registry.Host}
	transport := &http.Transport{Proxy: nil, TLSClientConfig: c.Bed.LoopbackClientTLS(), ResponseHeaderTimeout: 30 * time.Second}
	realm := ""
	if fault.Token != nil {
		var err error
		if realm, err = f.startTokenFront(c, *fault.Token, serverTLS, transport); err != nil {
			return nil, err
		}
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.Host = pr.In.Host
		},
		Transport: transport,
		ModifyResponse: func(resp *http.Response) error {
			if realm == "" {
				return nil
			}
			if h := resp.Header.Get("WWW-Authenticate"); h != "" {
				resp.Header.Set("WWW-Authenticate", realmPattern.ReplaceAllString(h, `realm="`+realm+`"`))
			}
			return nil
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for a fault front: %w", err)
	}
	f.listener, f.Host = l, l.Addr().String()
	f.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !f.wait(r.Context(), fault.RTT, false) {
				return
			}
			if strings.Contains(r.URL.Path, "/manifests/") && f.misbehave(w, r, fault) {
				return
			}
			proxy.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         serverTLS,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	if fault.Reset {
		// Only an HTTP/1.1 connection can be hijacked and reset; over HTTP/2 a handler can only
		// reset its stream.
		f.srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	f.wg.Go(func() { _ = f.srv.ServeTLS(l, "", "") })
	c.fronts = append(c.fronts, f)
	return f, nil
}

// misbehave applies fault to a manifest request and reports whether it answered it.
func (f *FaultFront) misbehave(w http.ResponseWriter, r *http.Request, fault Fault) bool {
	if !f.wait(r.Context(), fault.Delay, fault.Hang) {
		return true
	}
	switch {
	case fault.Reset:
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
	case fault.Status != 0:
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		code := "UNAVAILABLE"
		if fault.Status == http.StatusTooManyRequests {
			code = "TOOMANYREQUESTS"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fault.Status)
		_, _ = fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, http.StatusText(fault.Status))
		return true
	}
	return false
}

// wait sleeps for d (forever with hang) unless the request or the front ends first, and
// reports whether the request should go on.
func (f *FaultFront) wait(ctx context.Context, d time.Duration, hang bool) bool {
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
	case <-f.closing:
	}
	return false
}

// startTokenFront starts the token front for fault and returns the realm to advertise.
func (f *FaultFront) startTokenFront(c *Cluster, fault TokenFault, serverTLS *tls.Config, transport http.RoundTripper) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listening for a token front: %w", err)
	}
	// The realm is a host name, as Docker Hub's is: an IP-literal realm on another port than the
	// registry's is refused by go-containerregistry (and the webhook's network guard).
	realm := fmt.Sprintf("https://localhost:%d/token", l.Addr().(*net.TCPAddr).Port)
	if fault.Down {
		_ = l.Close()
		return realm, nil
	}
	upstream, err := c.tokenRealm()
	if err != nil {
		_ = l.Close()
		return "", err
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(upstream); pr.Out.URL.Path = upstream.Path },
		Transport: transport,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	f.token = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if f.wait(r.Context(), fault.Delay, fault.Hang) {
				proxy.ServeHTTP(w, r)
			}
		}),
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         serverTLS,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	f.wg.Go(func() { _ = f.token.ServeTLS(l, "", "") })
	return realm, nil
}

// tokenRealm reads the realm of the token-auth registry's Bearer challenge.
func (c *Cluster) tokenRealm() (*url.URL, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: c.Bed.LoopbackClientTLS()}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + c.Bed.Registry.Host + "/v2/")
	if err != nil {
		return nil, fmt.Errorf("pinging the registry: %w", err)
	}
	resp.Body.Close()
	m := realmPattern.FindStringSubmatch(resp.Header.Get("WWW-Authenticate"))
	if m == nil {
		return nil, fmt.Errorf("no token realm in %q", resp.Header.Get("WWW-Authenticate"))
	}
	return url.Parse("https://localhost:" + m[1] + "/token")
}

// Close stops the front, releasing held requests first.
func (f *FaultFront) Close() error {
	var errs []error
	f.once.Do(func() {
		close(f.closing)
		errs = append(errs, f.srv.Close())
		if f.token != nil {
			errs = append(errs, f.token.Close())
		}
		f.wg.Wait()
	})
	return errors.Join(errs...)
}
