package egress

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tlsServer starts an HTTPS server on 127.0.0.1 and returns options that trust it and allow
// loopback, the only place tests may connect to.
func tlsServer(t *testing.T, h http.Handler) (*httptest.Server, Options, *dialLog) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	dl := &dialLog{}
	o := testOptions(dl, fakeResolver{
		"metadata.test": {"169.254.169.254"},
		"internal.test": {"10.0.0.1"},
	})
	o.AllowPrivate = []string{"127.0.0.1"}
	o.CAFile = writeCA(t, srv)
	return srv, o, dl
}

func TestRedirects(t *testing.T) {
	var hits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "plain")
	}))
	t.Cleanup(plain.Close)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		// /v2/chain/N redirects N more times.
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/v2/chain/"))
		if err != nil || n == 0 {
			io.WriteString(w, "done")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/v2/chain/%d", n-1), http.StatusFound)
	})

	tests := map[string]struct {
		path       string
		insecure   []string
		wantBody   string
		wantReason string // a *BlockedError
		wantPlain  bool   // a *PlainHTTPError
		wantHops   int    // a *TooManyRedirectsError, with this many requests served
	}{
		"302 to http metadata":                {path: "/v2/x?to=http://169.254.169.254/latest/meta-data/", wantReason: ReasonLinkLocal},
		"302 to https metadata":               {path: "/v2/x?to=https://169.254.169.254/", wantReason: ReasonLinkLocal},
		"302 to the mapped metadata address":  {path: "/v2/x?to=https://[::ffff:169.254.169.254]/", wantReason: ReasonLinkLocal},
		"302 to a name resolving to metadata": {path: "/v2/x?to=https://metadata.test/", wantReason: ReasonLinkLocal},
		"302 to a name resolving to private":  {path: "/v2/x?to=https://internal.test/token", wantReason: ReasonPrivate},
		"302 to a plain-http name":            {path: "/v2/x?to=http://metadata.test/", wantPlain: true},
		"chain of 5 redirects":                {path: "/v2/chain/5", wantHops: 4},
		"chain of 3 redirects":                {path: "/v2/chain/3", wantBody: "done"},
		"downgrade to http":                   {path: "/v2/x?to=" + plain.URL + "/v2/", wantPlain: true},
		"downgrade to a listed insecure host": {path: "/v2/x?to=" + plain.URL + "/v2/", insecure: []string{plain.Listener.Addr().String()}, wantBody: "plain"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv, o, dl := tlsServer(t, handler)
			o.InsecureRegistries = tc.insecure
			m := &countingMetrics{}
			rt := newTestTransport(t, o, m)
			hits.Store(0)
			// go-containerregistry's fetcher follows redirects without a hop limit of its own.
			client := &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
			resp, err := client.Get(srv.URL + tc.path)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			var be *BlockedError
			var pe *PlainHTTPError
			var re *TooManyRedirectsError
			switch {
			case tc.wantBody != "":
				if err != nil || string(body) != tc.wantBody {
					t.Errorf("got %q, %v; want %q", body, err, tc.wantBody)
				}
			case tc.wantReason != "":
				if !errors.As(err, &be) || be.Reason != tc.wantReason {
					t.Errorf("error = %v; want *BlockedError %s", err, tc.wantReason)
				}
				if got := m.snapshot(); got[tc.wantReason] != 1 {
					t.Errorf("metrics = %v; want one %s", got, tc.wantReason)
				}
			case tc.wantPlain:
				if !errors.As(err, &pe) {
					t.Errorf("error = %v; want *PlainHTTPError", err)
				} else if !pe.Downgrade {
					t.Errorf("PlainHTTPError.Downgrade = false for a redirect from https")
				}
				if got := m.snapshot(); got[ReasonPlainHTTP] != 1 {
					t.Errorf("metrics = %v; want one %s", got, ReasonPlainHTTP)
				}
			case tc.wantHops != 0:
				if !errors.As(err, &re) || re.Limit != 3 {
					t.Errorf("error = %v; want *TooManyRedirectsError{3}", err)
				}
				if got := hits.Load(); int(got) != tc.wantHops {
					t.Errorf("server saw %d requests; want %d", got, tc.wantHops)
				}
				if got := m.snapshot(); got[ReasonRedirects] != 1 {
					t.Errorf("metrics = %v; want one %s", got, ReasonRedirects)
				}
			}
			dl.assertOnlyLoopback(t)
		})
	}
}

func TestResponseCaps(t *testing.T) {
	const manifestCap, tokenCap, errorCap = 1000, 100, 50
	chunked := func(w http.ResponseWriter, status, n int) {
		w.WriteHeader(status)
		w.(http.Flusher).Flush() // headers go out without Content-Length
		w.Write([]byte(strings.Repeat("x", n)))
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/":
			chunked(w, http.StatusOK, manifestCap)
		case "/v2/r/manifests/exact":
			chunked(w, http.StatusOK, manifestCap)
		case "/v2/r/manifests/over":
			chunked(w, http.StatusOK, manifestCap+1)
		case "/v2/r/manifests/declared-over":
			w.Header().Set("Content-Length", strconv.Itoa(50<<20))
			w.Write([]byte(strings.Repeat("x", manifestCap+1)))
		case "/v2/r/manifests/redirected":
			http.Redirect(w, r, "/cdn/object", http.StatusTemporaryRedirect)
		case "/cdn/object":
			chunked(w, http.StatusOK, manifestCap) // over the token cap: the manifest cap must apply
		case "/v2/r/manifests/missing":
			chunked(w, http.StatusNotFound, errorCap+1)
		case "/v2/r/manifests/small-error":
			chunked(w, http.StatusNotFound, errorCap)
		case "/v2/r/blobs/sha256:abc":
			chunked(w, http.StatusOK, manifestCap+1)
		case "/token":
			chunked(w, http.StatusOK, tokenCap+1)
		case "/token/exact":
			chunked(w, http.StatusOK, tokenCap)
		}
	})
	srv, o, _ := tlsServer(t, handler)
	o.MaxManifestBytes, o.MaxTokenBytes, o.MaxErrorBytes = manifestCap, tokenCap, errorCap
	rt := newTestTransport(t, o, nil)

	tests := map[string]struct {
		method string
		path   string
		// wantKind is the Kind of the expected *ResponseTooLargeError ("" = success).
		wantKind      string
		wantStatus    int
		failsUpFront  bool // RoundTrip fails, before any body read
		wantBodyBytes int
	}{
		"ping within the cap":                        {path: "/v2/", wantBodyBytes: manifestCap},
		"manifest exactly at the cap":                {path: "/v2/r/manifests/exact", wantBodyBytes: manifestCap},
		"manifest one byte over":                     {path: "/v2/r/manifests/over", wantKind: KindManifest, wantStatus: 200},
		"manifest declared over the cap":             {path: "/v2/r/manifests/declared-over", wantKind: KindManifest, wantStatus: 200, failsUpFront: true},
		"HEAD of an oversized manifest":              {method: http.MethodHead, path: "/v2/r/manifests/declared-over"},
		"redirected manifest keeps the manifest cap": {path: "/v2/r/manifests/redirected", wantBodyBytes: manifestCap},
		"error body over its cap":                    {path: "/v2/r/manifests/missing", wantKind: KindError, wantStatus: 404},
		"error body within its cap":                  {path: "/v2/r/manifests/small-error", wantBodyBytes: errorCap},
		"other registry path over the cap":           {path: "/v2/r/blobs/sha256:abc", wantKind: KindRegistry, wantStatus: 200},
		"token over its cap":                         {path: "/token?scope=x&secret=hunter2", wantKind: KindToken, wantStatus: 200},
		"token exactly at its cap":                   {path: "/token/exact", wantBodyBytes: tokenCap},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req, err := http.NewRequest(method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.User = url.UserPassword("user", "s3cret")
			resp, err := (&http.Client{Transport: rt}).Do(req)
			upFront := err != nil
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if tc.wantKind == "" {
				if err != nil || len(body) != tc.wantBodyBytes {
					t.Fatalf("got %d bytes, %v; want %d bytes", len(body), err, tc.wantBodyBytes)
				}
				return
			}
			var tl *ResponseTooLargeError
			if !errors.As(err, &tl) {
				t.Fatalf("error = %v; want *ResponseTooLargeError", err)
			}
			if tl.Kind != tc.wantKind || tl.StatusCode != tc.wantStatus || upFront != tc.failsUpFront {
				t.Errorf("got kind %s, status %d, up front %v; want %s, %d, %v", tl.Kind, tl.StatusCode, upFront, tc.wantKind, tc.wantStatus, tc.failsUpFront)
			}
			if wantURL := srv.URL + strings.Split(tc.path, "?")[0]; tl.URL != wantURL {
				t.Errorf("URL = %q; want %q", tl.URL, wantURL)
			}
			if msg := tl.Error(); strings.Contains(msg, "s3cret") || strings.Contains(msg, "hunter2") || strings.Contains(msg, "user") {
				t.Errorf("error message leaks credentials: %s", msg)
			}
		})
	}
}

func TestPlainHTTP(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	t.Cleanup(plain.Close)
	hostPort := plain.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(hostPort)

	tests := map[string]struct {
		url      string
		insecure []string
		allowed  bool
	}{
		"not listed":                      {url: plain.URL + "/v2/"},
		"listed by host":                  {url: plain.URL + "/v2/", insecure: []string{"127.0.0.1"}, allowed: true},
		"listed by host:port":             {url: plain.URL + "/v2/", insecure: []string{hostPort}, allowed: true},
		"listed with another port":        {url: plain.URL + "/v2/", insecure: []string{"127.0.0.1:1"}},
		"another host listed":             {url: plain.URL + "/v2/", insecure: []string{"registry.test"}},
		"name listed case-insensitive":    {url: "http://localhost:" + port + "/v2/", insecure: []string{"LOCALHOST"}, allowed: true},
		"localhost is not special":        {url: "http://localhost:" + port + "/v2/"},
		"default port 80 needs :80":       {url: "http://registry.test/v2/", insecure: []string{"registry.test:8080"}},
		"RFC 1918 literal is not special": {url: "http://10.1.2.3:5000/v2/", insecure: []string{"127.0.0.1"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dl := &dialLog{}
			o := testOptions(dl, fakeResolver{"localhost": {"127.0.0.1"}, "registry.test": {"127.0.0.1"}})
			o.AllowPrivate = []string{"127.0.0.1", "localhost", "10.0.0.0/8"}
			o.InsecureRegistries = tc.insecure
			m := &countingMetrics{}
			rt := newTestTransport(t, o, m)
			_, body, err := get(t, rt, tc.url)
			if tc.allowed {
				if err != nil || string(body) != "ok" {
					t.Fatalf("got %q, %v; want ok", body, err)
				}
				return
			}
			var pe *PlainHTTPError
			if !errors.As(err, &pe) || pe.Downgrade {
				t.Fatalf("error = %v; want *PlainHTTPError without downgrade", err)
			}
			if got := dl.dialled(); len(got) != 0 {
				t.Errorf("dialled %v; want no dial", got)
			}
			if got := m.snapshot(); len(got) != 1 || got[ReasonPlainHTTP] != 1 {
				t.Errorf("metrics = %v; want one %s", got, ReasonPlainHTTP)
			}
		})
	}
}

func TestCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		caFile        string
		wantNewErr    bool
		wantNotExist  bool
		wantUntrusted bool
	}{
		"bundle with the server's CA":  {caFile: writeCA(t, srv)},
		"missing file":                 {caFile: filepath.Join(dir, "missing.pem"), wantNewErr: true, wantNotExist: true},
		"garbage":                      {caFile: garbage, wantNewErr: true},
		"empty file":                   {caFile: empty, wantNewErr: true},
		"no bundle: system roots only": {wantUntrusted: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dl := &dialLog{}
			o := testOptions(dl, nil)
			o.AllowPrivate = []string{"127.0.0.1"}
			o.CAFile = tc.caFile
			rt, err := New(o, nil)
			if tc.wantNewErr {
				if err == nil {
					t.Fatal("New succeeded; want an error")
				}
				if tc.wantNotExist && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("error = %v; want fs.ErrNotExist", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(rt.(*roundTripper).CloseIdleConnections)
			_, body, err := get(t, rt, srv.URL+"/v2/")
			if tc.wantUntrusted {
				var unknown x509.UnknownAuthorityError
				if !errors.As(err, &unknown) {
					t.Errorf("error = %v; want x509.UnknownAuthorityError", err)
				}
				return
			}
			if err != nil || string(body) != "ok" {
				t.Errorf("got %q, %v; want ok", body, err)
			}
		})
	}
}

func TestTLSMinVersion(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{MaxVersion: tls.VersionTLS11}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dl := &dialLog{}
	o := testOptions(dl, nil)
	o.AllowPrivate = []string{"127.0.0.1"}
	o.CAFile = writeCA(t, srv)
	rt := newTestTransport(t, o, nil)
	if _, _, err := get(t, rt, srv.URL+"/v2/"); err == nil {
		t.Fatal("a TLS 1.1 server was accepted")
	}
}

// connectProxy is an HTTPS proxy on loopback that tunnels CONNECT to loopback targets only.
type connectProxy struct {
	hits    atomic.Int32
	mu      sync.Mutex
	targets []string
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.hits.Add(1)
	p.mu.Lock()
	p.targets = append(p.targets, r.Host)
	p.mu.Unlock()
	if host, _, _ := net.SplitHostPort(r.Host); r.Method != http.MethodConnect || host != "127.0.0.1" {
		http.Error(w, "loopback CONNECT only", http.StatusForbidden)
		return
	}
	upstream, err := net.DialTimeout("tcp", r.Host, 2*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() {
		io.Copy(upstream, buf)
		upstream.Close()
	}()
	io.Copy(conn, upstream)
	conn.Close()
}

func TestProxy(t *testing.T) {
	srv, base, _ := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	proxy := &connectProxy{}
	proxySrv := httptest.NewServer(proxy)
	t.Cleanup(proxySrv.Close)
	_, srvPort, _ := net.SplitHostPort(srv.Listener.Addr().String())

	tests := map[string]struct {
		proxy        string
		allow        []string
		url          string
		wantReason   string
		wantTunnelTo string
		wantNoDial   bool
	}{
		"tunnels to an allowed target": {
			proxy: proxySrv.URL, allow: []string{"127.0.0.1"}, url: srv.URL + "/v2/", wantTunnelTo: "127.0.0.1:" + srvPort,
		},
		"the proxy address itself is guarded": {
			proxy: proxySrv.URL, allow: []string{"127.0.0.1:" + srvPort}, url: srv.URL + "/v2/", wantReason: ReasonLoopback, wantNoDial: true,
		},
		"a private proxy needs an allowlist entry": {
			proxy: "http://10.0.0.9:3128", allow: []string{"127.0.0.1"}, url: srv.URL + "/v2/", wantReason: ReasonPrivate, wantNoDial: true,
		},
		"literal metadata target refused before the proxy": {
			proxy: proxySrv.URL, allow: []string{"127.0.0.1"}, url: "https://169.254.169.254/latest/", wantReason: ReasonLinkLocal, wantNoDial: true,
		},
		"name resolving to metadata refused before the proxy": {
			proxy: proxySrv.URL, allow: []string{"127.0.0.1"}, url: "https://metadata.test/latest/", wantReason: ReasonLinkLocal, wantNoDial: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dl := &dialLog{}
			o := base
			o.Dial = dl.dial
			o.Proxy = tc.proxy
			o.AllowPrivate = tc.allow
			rt := newTestTransport(t, o, nil)
			proxy.hits.Store(0)
			proxy.mu.Lock()
			proxy.targets = nil
			proxy.mu.Unlock()
			_, body, err := get(t, rt, tc.url)
			if tc.wantReason != "" {
				var be *BlockedError
				if !errors.As(err, &be) || be.Reason != tc.wantReason {
					t.Errorf("error = %v; want *BlockedError %s", err, tc.wantReason)
				}
				if got := proxy.hits.Load(); got != 0 {
					t.Errorf("proxy saw %d requests; want none", got)
				}
			} else if err != nil || string(body) != "ok" {
				t.Errorf("got %q, %v; want ok through the proxy", body, err)
			}
			if tc.wantTunnelTo != "" {
				proxy.mu.Lock()
				got := proxy.targets
				proxy.mu.Unlock()
				if len(got) != 1 || got[0] != tc.wantTunnelTo {
					t.Errorf("proxy tunnelled to %v; want [%s]", got, tc.wantTunnelTo)
				}
				if want := proxySrv.Listener.Addr().String(); len(dl.dialled()) != 1 || dl.dialled()[0] != want {
					t.Errorf("dialled %v; want only the proxy %s", dl.dialled(), want)
				}
			}
			if tc.wantNoDial && len(dl.dialled()) != 0 {
				t.Errorf("dialled %v; want no dial", dl.dialled())
			}
			dl.assertOnlyLoopback(t)
		})
	}
}

func TestEnvironmentProxyIgnored(t *testing.T) {
	envProxy := &connectProxy{}
	envProxySrv := httptest.NewServer(envProxy)
	t.Cleanup(envProxySrv.Close)
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"} {
		t.Setenv(k, envProxySrv.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	srv, o, dl := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	rt := newTestTransport(t, o, nil)

	tests := map[string]struct {
		url        string
		wantReason string
	}{
		"direct connection":          {url: srv.URL + "/v2/"},
		"metadata still blocked":     {url: "https://169.254.169.254/", wantReason: ReasonLinkLocal},
		"private name still blocked": {url: "https://internal.test/", wantReason: ReasonPrivate},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, body, err := get(t, rt, tc.url)
			if tc.wantReason == "" {
				if err != nil || string(body) != "ok" {
					t.Errorf("got %q, %v; want ok", body, err)
				}
			} else if be := (*BlockedError)(nil); !errors.As(err, &be) || be.Reason != tc.wantReason {
				t.Errorf("error = %v; want *BlockedError %s", err, tc.wantReason)
			}
		})
	}
	if got := envProxy.hits.Load(); got != 0 {
		t.Errorf("the environment's proxy saw %d requests; want none", got)
	}
	dl.assertOnlyLoopback(t)
}

func TestTimeouts(t *testing.T) {
	// A listener that accepts and never speaks: the TLS handshake hangs.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var accepted []net.Conn
	t.Cleanup(func() {
		silent.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range accepted {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, c)
			mu.Unlock()
		}
	}()
	release := make(chan struct{})
	hang, o, _ := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) })
	o.TLSHandshakeTimeout = 200 * time.Millisecond
	o.ResponseHeaderTimeout = 200 * time.Millisecond

	tests := map[string]string{
		"TLS handshake never completes": "https://" + silent.Addr().String() + "/v2/",
		"response headers never come":   hang.URL + "/v2/",
	}
	for name, rawURL := range tests {
		t.Run(name, func(t *testing.T) {
			rt := newTestTransport(t, o, nil)
			start := time.Now()
			_, _, err := get(t, rt, rawURL)
			var netErr net.Error
			if !errors.As(err, &netErr) || !netErr.Timeout() {
				t.Errorf("error = %v; want a timeout", err)
			}
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("took %v; want about 200ms", elapsed)
			}
		})
	}
}

func TestNilMetrics(t *testing.T) {
	rt := newTestTransport(t, testOptions(&dialLog{}, nil), nil)
	if _, _, err := get(t, rt, "https://169.254.169.254/"); err == nil {
		t.Fatal("metadata request succeeded")
	}
}

// TestDialFallback checks that a black-holed first address leaves time for the next one.
func TestDialFallback(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	t.Cleanup(plain.Close)
	_, port, _ := net.SplitHostPort(plain.Listener.Addr().String())
	dl := &dialLog{blackhole: net.JoinHostPort("2001:4860::1", port)}
	o := testOptions(dl, fakeResolver{"dual.test": {"2001:4860::1", "127.0.0.1"}})
	o.AllowPrivate = []string{"dual.test"}
	o.InsecureRegistries = []string{"dual.test"}
	o.DialTimeout = time.Second
	rt := newTestTransport(t, o, nil)
	start := time.Now()
	_, body, err := get(t, rt, "http://dual.test:"+port+"/v2/")
	if err != nil || string(body) != "ok" {
		t.Fatalf("got %q, %v; want ok from the second address", body, err)
	}
	if elapsed := time.Since(start); elapsed > 900*time.Millisecond {
		t.Errorf("took %v; want the first address to get only its share of the dial timeout", elapsed)
	}
	if got := dl.dialled(); len(got) != 2 || got[0] != dl.blackhole {
		t.Errorf("dialled %v; want the black hole, then loopback", got)
	}
}
