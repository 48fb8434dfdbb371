package cloud

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/testcloud"
	"github.com/pullguard/pullguard/internal/testregistry"
	"github.com/pullguard/pullguard/pkg/registry/egress"
)

func TestACRScope(t *testing.T) {
	tests := map[string]struct {
		host string
		ok   bool
	}{
		"public":            {host: "myregistry.azurecr.io", ok: true},
		"China":             {host: "myregistry.azurecr.cn", ok: true},
		"US Government":     {host: "myregistry.azurecr.us", ok: true},
		"Germany":           {host: "myregistry.azurecr.de", ok: true},
		"domain name label": {host: "myregistry-abcdef.azurecr.io", ok: true},
		"look-alike suffix": {host: "r.azurecr.io.evil"},
		"look-alike label":  {host: "r.azurecr.io-evil.example"},
		"data endpoint":     {host: "myregistry.westeurope.data.azurecr.io"},
		"bare azurecr.io":   {host: "azurecr.io"},
		"other suffix":      {host: "myregistry.azurecr.com"},
	}
	a := NewACR(nil, nil, false, nil)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			scope, ok := a.Scope(tc.host)
			if ok != tc.ok || (ok && scope != tc.host) {
				t.Errorf("Scope(%q) = %q, %v; want the host, %v", tc.host, scope, ok, tc.ok)
			}
		})
	}
}

const acrRegistry = "myregistry.azurecr.io"

// acrEnv is the loopback Entra authority and an ACR exchange served as acrRegistry on a test
// network, reached through the engine's own guarded transport.
type acrEnv struct {
	az      *testcloud.Azure
	front   *testregistry.Front
	net     *testregistry.Network
	refused *atomic.Int32
	rt      http.RoundTripper
}

func newACREnv(t *testing.T) *acrEnv {
	t.Helper()
	ca, caFile, network := testregistry.Trusted(t)
	e := &acrEnv{az: testcloud.NewAzure(t), net: network, refused: &atomic.Int32{}}
	front, err := network.Serve(ca, e.az.Exchange(http.NotFoundHandler()), acrRegistry)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(front.Close)
	e.front = front
	opts := egress.DefaultOptions()
	opts.AllowPrivate = []string{"127.0.0.0/8"}
	opts.CAFile = caFile
	opts.Resolver = network
	opts.Dial = network.Dial
	if e.rt, err = egress.New(opts, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *acrEnv) sources(now func() time.Time) *Sources {
	return NewSources(now, NewACR(testcloud.LoopbackHTTPClient(e.refused, e.az.Roots), e.rt, true, now))
}

func (e *acrEnv) noLeak(t *testing.T) {
	t.Helper()
	if n := e.refused.Load(); n != 0 {
		t.Errorf("azidentity tried %d non-loopback dials", n)
	}
	if r := e.net.Refused(); len(r) != 0 {
		t.Errorf("the exchange tried non-loopback dials: %v", r)
	}
}

// TestACRFetch: the real azidentity exchanges the federated token at the loopback authority,
// azcontainerregistry exchanges the Entra token at the registry for a refresh token; a burst
// makes one exchange; the cache serves until shortly before the refresh token's expiry.
func TestACRFetch(t *testing.T) {
	e := newACREnv(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	s := e.sources(clock)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			c, _, ok, err := s.Lookup(context.Background(), acrRegistry)
			switch {
			case err != nil:
				errs <- err
			case !ok || c.Username != acrUser || c.Password != e.az.RefreshToken:
				errs <- errors.New("wrong credential")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if a, x := e.az.AADCalls.Load(), e.az.ExchangeCalls.Load(); a != 1 || x != 1 {
		t.Errorf("a burst of 20 made %d Entra token requests and %d exchanges, want 1 and 1", a, x)
	}
	now.Add(int64(acrRefreshLifetime - refreshMargin - 2*time.Minute))
	if _, _, _, err := s.Lookup(context.Background(), acrRegistry); err != nil || e.az.ExchangeCalls.Load() != 1 {
		t.Errorf("before the refresh margin: err %v, %d exchanges, want the cached token", err, e.az.ExchangeCalls.Load())
	}
	now.Add(int64(2 * time.Minute))
	if _, _, _, err := s.Lookup(context.Background(), acrRegistry); err != nil || e.az.ExchangeCalls.Load() != 2 {
		t.Errorf("inside the refresh margin: err %v, %d exchanges, want a new one", err, e.az.ExchangeCalls.Load())
	}
	e.noLeak(t)
}

// TestACRIdentityFailed: Entra refusing the federated identity, the registry refusing the
// exchange, or the authority down is an IdentityError, and nothing is cached.
func TestACRIdentityFailed(t *testing.T) {
	tests := map[string]struct {
		aad, exchange int32
		down          bool
	}{
		"Entra refuses":         {aad: 401},
		"registry refuses":      {exchange: 401},
		"authority unreachable": {down: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newACREnv(t)
			e.az.AADStatus.Store(tc.aad)
			e.az.ExchangeStatus.Store(tc.exchange)
			if tc.down {
				e.az.Server.Close()
			}
			s := e.sources(nil)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, p, ok, err := s.Lookup(ctx, acrRegistry)
			var ie *IdentityError
			if !ok || p == nil || !errors.As(err, &ie) || ie.Provider != "ACR" {
				t.Fatalf("Lookup = %v, %v, %v; want an ACR IdentityError", p, ok, err)
			}
			if !tc.down {
				e.az.AADStatus.Store(0)
				e.az.ExchangeStatus.Store(0)
				if _, _, _, err := s.Lookup(ctx, acrRegistry); err != nil {
					t.Errorf("after the identity was granted: %v", err)
				}
			}
			e.noLeak(t)
		})
	}
}

// TestACRExchangeNoRedirect: a registry that redirects the exchange does not get the Entra
// token sent on to the other host.
func TestACRExchangeNoRedirect(t *testing.T) {
	e := newACREnv(t)
	ca, err := testregistry.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Int32
	other, err := e.net.Serve(ca, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got.Add(1) }), "elsewhere.example")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	const redirecting = "redirecting.azurecr.io"
	front, err := e.net.Serve(ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example/oauth2/exchange", http.StatusTemporaryRedirect)
	}), redirecting)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(front.Close)
	_, _, _, err = e.sources(nil).Lookup(context.Background(), redirecting)
	var ie *IdentityError
	if !errors.As(err, &ie) {
		t.Errorf("Lookup = %v, want an IdentityError", err)
	}
	if got.Load() != 0 {
		t.Errorf("the redirect target received %d requests", got.Load())
	}
	e.noLeak(t)
}

func TestJWTExpiry(t *testing.T) {
	def := time.Unix(2_000_000_000, 0)
	tests := map[string]struct {
		token string
		want  time.Time
	}{
		"earlier exp": {token: "e30.eyJleHAiOjE5MDAwMDAwMDB9.c2ln", want: time.Unix(1_900_000_000, 0)},
		"later exp":   {token: "e30.eyJleHAiOjIxMDAwMDAwMDB9.c2ln", want: def},
		"no exp":      {token: "e30.e30.c2ln", want: def},
		"not a JWT":   {token: "opaque", want: def},
		"bad base64":  {token: "e30.!!.c2ln", want: def},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := jwtExpiry(tc.token, def); !got.Equal(tc.want) {
				t.Errorf("jwtExpiry = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestACRInstanceDiscoveryGuarded: with instance discovery on, Entra's library asks
// login.microsoftonline.com about the (loopback) authority; the injected dialer refuses it, so
// the guard holds even when a test forgets the override.
func TestACRInstanceDiscoveryGuarded(t *testing.T) {
	e := newACREnv(t)
	s := NewSources(nil, NewACR(testcloud.LoopbackHTTPClient(e.refused, e.az.Roots), e.rt, false, nil))
	_, _, _, err := s.Lookup(context.Background(), acrRegistry)
	var ie *IdentityError
	if !errors.As(err, &ie) {
		t.Fatalf("Lookup = %v, want an IdentityError", err)
	}
	if e.refused.Load() == 0 || e.az.AADCalls.Load() != 0 {
		t.Errorf("%d refused dials and %d Entra tokens, want the discovery refused and no token", e.refused.Load(), e.az.AADCalls.Load())
	}
}
