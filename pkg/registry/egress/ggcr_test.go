package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// These tests drive the transport through go-containerregistry's own client code (ping,
// bearer handshake, manifest fetch), the way the engine uses it.

func remoteOptions(t *testing.T, rt http.RoundTripper) []remote.Option {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return []remote.Option{
		remote.WithTransport(rt),
		remote.WithContext(ctx),
		remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Steps: 1}),
	}
}

// TestHugeManifest serves a 50 MiB manifest, streamed and declared, to remote.Get: it must fail
// with ResponseTooLargeError after reading no more than the cap.
func TestHugeManifest(t *testing.T) {
	const size = 50 << 20
	tests := map[string]struct {
		declared bool
	}{
		"streamed without Content-Length": {},
		"declared by Content-Length":      {declared: true},
	}
	for caseName, tc := range tests {
		t.Run(caseName, func(t *testing.T) {
			var written atomic.Int64
			handlerDone := make(chan struct{})
			srv, o, dl := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.Contains(r.URL.Path, "/manifests/") {
					return // the ping: 200, no auth
				}
				defer close(handlerDone)
				w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				if tc.declared {
					w.Header().Set("Content-Length", strconv.Itoa(size))
				}
				buf := []byte(strings.Repeat(" ", 32<<10))
				for written.Load() < size {
					n, err := w.Write(buf)
					written.Add(int64(n))
					if err != nil {
						return // the client hung up
					}
				}
			}))
			rt := newTestTransport(t, o, nil)
			ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "https://") + "/huge/manifest:latest")
			if err != nil {
				t.Fatal(err)
			}

			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err = remote.Get(ref, remoteOptions(t, rt)...)
			runtime.ReadMemStats(&after)

			var tl *ResponseTooLargeError
			if !errors.As(err, &tl) || tl.Kind != KindManifest || tl.Limit != 4<<20 {
				t.Fatalf("error = %v; want a 4 MiB manifest ResponseTooLargeError", err)
			}
			// Everything this process allocated during the call, server included, stays far below
			// the 50 MiB served: the body was never buffered.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 24<<20 {
				t.Errorf("allocated %d MiB while fetching; want well under 50 MiB", alloc>>20)
			}
			rt.(*roundTripper).CloseIdleConnections()
			select {
			case <-handlerDone:
			case <-time.After(10 * time.Second):
				t.Fatal("the server kept writing after the client gave up")
			}
			if got := written.Load(); got >= size {
				t.Errorf("server wrote all %d bytes; want the client to hang up early", got)
			}
			dl.assertOnlyLoopback(t)
		})
	}
}

// bearerFront puts the Docker token flow in front of a registry: requests without the token
// get a Bearer challenge naming the configured realm.
type bearerFront struct {
	registry  http.Handler
	realm     atomic.Value // string
	tokenHits atomic.Int32
}

func (f *bearerFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/token":
		f.tokenHits.Add(1)
		io.WriteString(w, `{"token":"good"}`)
		return
	case "/token-redirect":
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
		return
	}
	if r.Header.Get("Authorization") != "Bearer good" {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="test"`, f.realm.Load().(string)))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.registry.ServeHTTP(w, r)
}

func TestBearerRealm(t *testing.T) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	push := httptest.NewServer(reg)
	t.Cleanup(push.Close)
	pushOpts := testOptions(&dialLog{}, nil)
	pushOpts.AllowPrivate = []string{"127.0.0.1"}
	pushOpts.InsecureRegistries = []string{push.Listener.Addr().String()}
	pushRef, err := name.ParseReference(push.Listener.Addr().String() + "/test/img:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(pushRef, img, remoteOptions(t, newTestTransport(t, pushOpts, nil))...); err != nil {
		t.Fatalf("pushing the test image: %v", err)
	}

	secure := &bearerFront{registry: reg}
	secureSrv, secureOpts, _ := tlsServer(t, secure)
	insecure := &bearerFront{registry: reg}
	insecureSrv := httptest.NewServer(insecure)
	t.Cleanup(insecureSrv.Close)
	insecureHost := insecureSrv.Listener.Addr().String()
	_, insecurePort, _ := strings.Cut(insecureHost, ":")

	tests := map[string]struct {
		front    *bearerFront
		host     string
		realm    string
		insecure []string
		// wantReason is the expected BlockedError reason; wantPlain a PlainHTTPError;
		// wantRefused any error without a connection to the realm.
		wantReason  string
		wantPlain   bool
		wantRefused bool
	}{
		"realm on the registry host": {front: secure, host: secureSrv.Listener.Addr().String(), realm: secureSrv.URL + "/token"},
		// go-containerregistry refuses IP-literal private realms itself (validateRealmURL); the
		// guard would refuse them too.
		"realm http://10.0.0.1/token":  {front: secure, host: secureSrv.Listener.Addr().String(), realm: "http://10.0.0.1/token", wantRefused: true},
		"realm https://10.0.0.1/token": {front: secure, host: secureSrv.Listener.Addr().String(), realm: "https://10.0.0.1/token", wantRefused: true},
		// Names are not go-containerregistry's business: this is where the guard matters.
		"realm name resolving to a private address": {
			front: secure, host: secureSrv.Listener.Addr().String(), realm: "https://internal.test/token", wantReason: ReasonPrivate,
		},
		"realm name resolving to metadata": {
			front: secure, host: secureSrv.Listener.Addr().String(), realm: "https://metadata.test/token", wantReason: ReasonLinkLocal,
		},
		"realm redirecting to metadata": {
			front: secure, host: secureSrv.Listener.Addr().String(),
			realm: secureSrv.URL + "/token-redirect?to=https://metadata.test/token", wantReason: ReasonLinkLocal,
		},
		"insecure registry, plain realm host not listed": {
			front: insecure, host: insecureHost, realm: "http://tokens.test:" + insecurePort + "/token",
			insecure: []string{insecureHost}, wantPlain: true,
		},
		"insecure registry, plain realm host listed": {
			front: insecure, host: insecureHost, realm: "http://tokens.test:" + insecurePort + "/token",
			insecure: []string{insecureHost, "tokens.test"},
		},
	}
	for caseName, tc := range tests {
		t.Run(caseName, func(t *testing.T) {
			tc.front.realm.Store(tc.realm)
			tc.front.tokenHits.Store(0)
			dl := &dialLog{}
			o := secureOpts
			o.Dial = dl.dial
			o.Resolver = fakeResolver{
				"internal.test": {"10.0.0.1"},
				"metadata.test": {"169.254.169.254"},
				"tokens.test":   {"127.0.0.1"},
			}
			o.AllowPrivate = []string{"127.0.0.1", "tokens.test"}
			o.InsecureRegistries = tc.insecure
			rt := newTestTransport(t, o, nil)
			ref, err := name.ParseReference(tc.host + "/test/img:v1")
			if err != nil {
				t.Fatal(err)
			}
			desc, err := remote.Head(ref, remoteOptions(t, rt)...)
			var be *BlockedError
			var pe *PlainHTTPError
			switch {
			case tc.wantReason != "":
				if !errors.As(err, &be) || be.Reason != tc.wantReason {
					t.Errorf("error = %v; want *BlockedError %s", err, tc.wantReason)
				}
			case tc.wantPlain:
				if !errors.As(err, &pe) || pe.Host != "tokens.test:"+insecurePort {
					t.Errorf("error = %v; want *PlainHTTPError for tokens.test", err)
				}
			case tc.wantRefused:
				if err == nil {
					t.Error("HEAD succeeded; want the realm refused")
				}
			default:
				if err != nil {
					t.Fatalf("HEAD: %v", err)
				}
				if desc.Digest != digest {
					t.Errorf("digest = %s; want %s", desc.Digest, digest)
				}
				if tc.front.tokenHits.Load() == 0 {
					t.Error("the token endpoint was never asked: the bearer flow did not run")
				}
			}
			dl.assertOnlyLoopback(t)
		})
	}
}

// TestGuessedPlainHTTP covers references go-containerregistry also pings over plain HTTP
// (name.Registry.Scheme guesses http for 127.0.0.1, localhost, *.localhost and RFC 1918):
// nothing is dialled.
func TestGuessedPlainHTTP(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	tests := map[string]struct {
		ref        string
		wantReason string
	}{
		"RFC 1918 literal":            {ref: "10.1.2.3/app:1", wantReason: ReasonPrivate},
		"loopback registry on a port": {ref: srv.Listener.Addr().String() + "/app:1", wantReason: ReasonLoopback},
		"localhost":                   {ref: "localhost:" + port + "/app:1", wantReason: ReasonLoopback},
		"*.localhost name":            {ref: "registry.localhost/app:1", wantReason: ReasonPrivate},
	}
	for caseName, tc := range tests {
		t.Run(caseName, func(t *testing.T) {
			dl := &dialLog{}
			o := testOptions(dl, fakeResolver{"localhost": {"127.0.0.1", "::1"}, "registry.localhost": {"192.168.1.5"}})
			rt := newTestTransport(t, o, nil)
			ref, err := name.ParseReference(tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if ref.Context().Registry.Scheme() != "http" {
				t.Fatalf("go-containerregistry no longer guesses http for %s; the case is moot", tc.ref)
			}
			_, err = remote.Head(ref, remoteOptions(t, rt)...)
			var be *BlockedError
			if !errors.As(err, &be) || be.Reason != tc.wantReason {
				t.Errorf("error = %v; want *BlockedError %s", err, tc.wantReason)
			}
			if got := dl.dialled(); len(got) != 0 {
				t.Errorf("dialled %v; want no dial", got)
			}
		})
	}
	if got := conns.Load(); got != 0 {
		t.Errorf("the loopback registry accepted %d connections; want none", got)
	}
}
