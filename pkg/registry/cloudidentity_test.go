package registry

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/testcloud"
	"github.com/pullguard/pullguard/internal/testregistry"
)

// cloudProvider is one cloud's fake token service and the registry user its tokens log in as.
type cloudProvider struct {
	name string
	// host is the registry's host, other a second host of the provider (redirect tests), and
	// lookAlikes hosts that only look like the provider's.
	host, other string
	lookAlikes  []string
	user        string
	// start starts the fake for a test and returns the token the registry must accept, with
	// hooks to count exchanges, refuse them and take the token service down.
	start func(t *testing.T, ce *cloudEnv) cloudFake
}

type cloudFake struct {
	password  string
	exchanges func() int32
	refuse    func()
	down      func()
	// serve wraps a registry host's handler (ACR answers the exchange on the registry host).
	serve func(http.Handler) http.Handler
}

var cloudProviders = map[string]cloudProvider{
	"ECR": {
		name: "ECR", host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", other: "210987654321.dkr.ecr.us-east-1.amazonaws.com", user: "AWS",
		lookAlikes: []string{"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil", "x.dkr.ecr.us-east-1.amazonaws.com", "a.123456789012.dkr.ecr.us-east-1.amazonaws.com"},
		start: func(t *testing.T, ce *cloudEnv) cloudFake {
			f := testcloud.NewAWS(t, "ecr-token-password")
			ce.opts.Cloud.ECR.Enabled = true
			ce.opts.Cloud.ECR.HTTPClient = testcloud.LoopbackClient(ce.refused)
			return cloudFake{password: "ecr-token-password", exchanges: f.ECRCalls.Load,
				refuse: func() { f.ECRStatus.Store(400) }, down: f.Server.Close}
		},
	},
	"GCP": {
		name: "GCP", host: "europe-west1-docker.pkg.dev", other: "us-docker.pkg.dev", user: "_token",
		lookAlikes: []string{"x.gcr.io.evil", "europe-west1-docker.pkg.dev.evil", "a.b.gcr.io"},
		start: func(t *testing.T, ce *cloudEnv) cloudFake {
			f := testcloud.NewGCP(t, "gcp-access-token", testcloud.GCPMetadata)
			ce.opts.Cloud.GCP.Enabled = true
			ce.opts.Cloud.GCP.HTTPClient = testcloud.LoopbackHTTPClient(ce.refused, nil)
			return cloudFake{password: "gcp-access-token", exchanges: f.MetadataCalls.Load,
				refuse: func() { f.TokenStatus.Store(403) }, down: f.Server.Close}
		},
	},
	"ACR": {
		name: "ACR", host: "myregistry.azurecr.io", other: "other.azurecr.io", user: "00000000-0000-0000-0000-000000000000",
		lookAlikes: []string{"r.azurecr.io.evil", "a.myregistry.azurecr.io", "myregistry.azurecr.io-evil.example"},
		start: func(t *testing.T, ce *cloudEnv) cloudFake {
			f := testcloud.NewAzure(t)
			ce.opts.Cloud.ACR.Enabled = true
			ce.opts.Cloud.ACR.AADTransport = testcloud.LoopbackHTTPClient(ce.refused, f.Roots)
			ce.opts.Cloud.ACR.DisableInstanceDiscovery = true
			return cloudFake{password: f.RefreshToken, exchanges: f.ExchangeCalls.Load,
				refuse: func() { f.AADStatus.Store(401) }, down: f.Server.Close, serve: f.Exchange}
		},
	},
}

// cloudEnv is a cloud registry on the test network that accepts the provider's user with the
// token its loopback fake hands out, and checker options with the webhook's identity for that
// provider enabled, whose SDK clients only dial loopback.
type cloudEnv struct {
	*env
	p       cloudProvider
	fake    cloudFake
	refused *atomic.Int32
	reg     *testregistry.Registry
	opts    Options
}

func newCloudEnv(t *testing.T, p cloudProvider, registryPassword string) *cloudEnv {
	t.Helper()
	e := newEnv(t)
	ce := &cloudEnv{env: e, p: p, refused: &atomic.Int32{}, opts: e.options()}
	ce.fake = p.start(t, ce)
	ce.reg = e.registry(testregistry.Config{Auth: testregistry.AuthBasic, Users: map[string]string{p.user: cmpOr(registryPassword, ce.fake.password)}})
	ce.serve(t, ce.proxy(), p.host)
	push(t, ce.reg, "team/app:v1")
	return ce
}

// proxy forwards to the env's registry.
func (ce *cloudEnv) proxy() http.Handler {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ce.ca.CertPEM)
	u, _ := url.Parse("https://" + ce.reg.Addr)
	return testregistry.Proxy(u, testcloud.LoopbackHTTPClient(ce.refused, roots).Transport)
}

// serve serves h as host, behind the provider's exchange if it has one.
func (ce *cloudEnv) serve(t *testing.T, h http.Handler, host string) {
	if ce.fake.serve != nil {
		h = ce.fake.serve(h)
	}
	serveTLS(t, ce.ca, ce.net, h, host)
}

func (ce *cloudEnv) noLeak(t *testing.T, verdicts ...Verdict) {
	t.Helper()
	if n := ce.refused.Load(); n != 0 {
		t.Errorf("the %s SDK tried %d non-loopback dials", ce.p.name, n)
	}
	if r := ce.net.Refused(); len(r) != 0 {
		t.Errorf("the registry transport tried non-loopback dials: %v", r)
	}
	for _, v := range verdicts {
		if s := fmt.Sprintf("%+v", v); strings.Contains(s, ce.fake.password) {
			t.Errorf("a verdict carries the %s token: %s", ce.p.name, s)
		}
	}
}

func forEachCloud(t *testing.T, f func(t *testing.T, p cloudProvider)) {
	for name, p := range cloudProviders {
		t.Run(name, func(t *testing.T) { f(t, p) })
	}
}

// TestCloudIdentity: with the webhook's own cloud identity, images on that cloud's registry
// without a matching pull secret are checked like any other: found is pullable (with the note
// that the nodes' permission is unknown), missing is a denial, and the identity's own failures
// leave it unverifiable.
func TestCloudIdentity(t *testing.T) {
	tests := map[string]struct {
		repo             string
		registryPassword string
		refuse           bool
		outcome          Outcome
		class            Class
		words, notes     []string
	}{
		"tag exists": {repo: "/team/app:v1", outcome: Pullable, class: ClassOK,
			notes: []string{"webhook's own %s identity", "nodes' identity may pull it was not checked"}},
		"tag missing":        {repo: "/team/app:v2", outcome: NotPullable, class: ClassTagNotFound, words: []string{"v2"}},
		"repository missing": {repo: "/team/nothing:v1", outcome: NotPullable, class: ClassRepositoryNotFound},
		"identity refused by the registry": {repo: "/team/app:v1", registryPassword: "other", outcome: Unverifiable, class: ClassCloudIdentity,
			words: []string{"refused the webhook's own %s identity", "401", "not in question"}},
		"token exchange refused": {repo: "/team/app:v1", refuse: true, outcome: Unverifiable, class: ClassCloudIdentity,
			words: []string{"webhook's own %s identity got no token", "not in question"}},
	}
	forEachCloud(t, func(t *testing.T, p cloudProvider) {
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				ce := newCloudEnv(t, p, tc.registryPassword)
				if tc.refuse {
					ce.fake.refuse()
				}
				v := ce.checker(ce.opts).Check(ctxTimeout(t, 30*time.Second), Request{Image: p.host + tc.repo})
				assertVerdict(t, v, tc.outcome, tc.class, named(tc.words, p.name), named(tc.notes, p.name))
				ce.noLeak(t, v)
			})
		}
	})
}

func named(words []string, provider string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = strings.ReplaceAll(w, "%s", provider)
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestCloudTokenServiceDown: the cloud's token service not answering is the identity's
// problem, not the image's.
func TestCloudTokenServiceDown(t *testing.T) {
	forEachCloud(t, func(t *testing.T, p cloudProvider) {
		ce := newCloudEnv(t, p, "")
		ce.fake.down()
		v := ce.checker(ce.opts).Check(ctxTimeout(t, 30*time.Second), Request{Image: p.host + "/team/app:v1"})
		assertVerdict(t, v, Unverifiable, ClassCloudIdentity, []string{"webhook's own " + p.name + " identity got no token"}, nil)
		ce.noLeak(t, v)
	})
}

// TestCloudPullSecretWins: a pull secret that matches the cloud host decides, as for the
// kubelet; the webhook's identity is not even asked for a token.
func TestCloudPullSecretWins(t *testing.T) {
	forEachCloud(t, func(t *testing.T, p cloudProvider) {
		ce := newCloudEnv(t, p, "")
		secret := dockerSecret("cloudcred", map[string]entry{p.host: {user: p.user, password: "stale"}})
		c := ce.checker(ce.opts)
		v := c.Check(ctxTimeout(t, 30*time.Second), Request{Image: p.host + "/team/app:v1", Keyring: keyringOf(secret), TrustedCaller: true})
		if v.Class == ClassCloudIdentity || v.Outcome == Pullable || !strings.Contains(v.Credential, "cloudcred") {
			t.Errorf("verdict %s/%s with %s, want the pull secret's own failure", v.Outcome, v.Class, v.Credential)
		}
		// A caller without a verified certificate gets the same decision, without the secret's name.
		u := c.Check(ctxTimeout(t, 30*time.Second), Request{Image: p.host + "/team/app:v1", Keyring: keyringOf(secret)})
		if u.Outcome != v.Outcome || u.Class != v.Class || strings.Contains(u.Message(), "cloudcred") {
			t.Errorf("untrusted verdict %s/%s %q, want %s/%s without the secret's name", u.Outcome, u.Class, u.Message(), v.Outcome, v.Class)
		}
		if n := ce.fake.exchanges(); n != 0 {
			t.Errorf("%d token exchanges with a matching pull secret, want 0", n)
		}
		ce.noLeak(t, v)
	})
}

// TestCloudBurst: 20 concurrent admissions of several images make one token exchange.
func TestCloudBurst(t *testing.T) {
	forEachCloud(t, func(t *testing.T, p cloudProvider) {
		ce := newCloudEnv(t, p, "")
		for i := range 5 {
			push(t, ce.reg, fmt.Sprintf("team/app%d:v1", i))
		}
		c := ce.checker(ce.opts)
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				v := c.Check(ctxTimeout(t, 30*time.Second), Request{Image: fmt.Sprintf("%s/team/app%d:v1", p.host, i%5)})
				if v.Outcome != Pullable {
					t.Errorf("verdict %s/%s: %s", v.Outcome, v.Class, v.Message())
				}
			})
		}
		wg.Wait()
		if n := ce.fake.exchanges(); n != 1 {
			t.Errorf("20 checks made %d token exchanges, want 1", n)
		}
		ce.noLeak(t)
	})
}

// TestCloudRefusedTokenRenewed: a token the registry refuses (revoked, expired early) is dropped,
// and the next check exchanges a new one.
func TestCloudRefusedTokenRenewed(t *testing.T) {
	forEachCloud(t, func(t *testing.T, p cloudProvider) {
		ce := newCloudEnv(t, p, "not-the-token")
		opts := ce.opts
		opts.UnverifiableTTL = 0
		c := ce.checker(opts)
		for range 2 {
			v := c.Check(ctxTimeout(t, 30*time.Second), Request{Image: p.host + "/team/app:v1"})
			assertVerdict(t, v, Unverifiable, ClassCloudIdentity, nil, nil)
		}
		if n := ce.fake.exchanges(); n != 2 {
			t.Errorf("two checks refused with 401 made %d exchanges, want 2 (the refused token dropped)", n)
		}
		ce.noLeak(t)
	})
}

// authRecorder answers every request with a Basic challenge and records the Authorization
// headers it was sent.
type authRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (a *authRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	if h := r.Header.Get("Authorization"); h != "" {
		a.seen = append(a.seen, h)
	}
	a.mu.Unlock()
	w.Header().Set("WWW-Authenticate", `Basic realm="look-alike"`)
	w.WriteHeader(http.StatusUnauthorized)
}

func (a *authRecorder) headers() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

// TestCloudLookAlikeHost: a host that only looks like the cloud's never gets the webhook's
// token, and no token is even asked for.
func TestCloudLookAlikeHost(t *testing.T) {
	forEachCloud(t, func(t *testing.T, p cloudProvider) {
		ce := newCloudEnv(t, p, "")
		rec := &authRecorder{}
		for _, h := range p.lookAlikes {
			serveTLS(t, ce.ca, ce.net, rec, h)
		}
		c := ce.checker(ce.opts)
		for _, h := range p.lookAlikes {
			v := c.Check(ctxTimeout(t, 30*time.Second), Request{Image: h + "/team/app:v1"})
			if v.Outcome == Pullable || v.Class == ClassCloudIdentity {
				t.Errorf("%s: verdict %s/%s", h, v.Outcome, v.Class)
			}
		}
		if got := rec.headers(); len(got) != 0 {
			t.Errorf("look-alike hosts received Authorization headers: %q", got)
		}
		if n := ce.fake.exchanges(); n != 0 {
			t.Errorf("%d token exchanges for look-alike hosts, want 0", n)
		}
		ce.noLeak(t)
	})
}

// TestCloudRedirectKeepsToken: a cloud host redirecting the manifest to another host does not
// take the token along.
func TestCloudRedirectKeepsToken(t *testing.T) {
	forEachCloud(t, func(t *testing.T, p cloudProvider) {
		ce := newCloudEnv(t, p, "")
		rec := &authRecorder{}
		const elsewhere = "elsewhere.example"
		serveTLS(t, ce.ca, ce.net, rec, elsewhere)
		ce.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, pw, ok := r.BasicAuth(); !ok || u != p.user || pw != ce.fake.password {
				w.Header().Set("WWW-Authenticate", `Basic realm="cloud"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if r.URL.Path == "/v2/" {
				return
			}
			http.Redirect(w, r, "https://"+elsewhere+r.URL.Path, http.StatusTemporaryRedirect)
		}), p.other)
		v := ce.checker(ce.opts).Check(ctxTimeout(t, 30*time.Second), Request{Image: p.other + "/team/app:v1"})
		if v.Outcome == Pullable {
			t.Errorf("verdict %s/%s", v.Outcome, v.Class)
		}
		if ce.fake.exchanges() == 0 {
			t.Error("the redirecting host got no token: the test proves nothing")
		}
		for _, h := range rec.headers() {
			t.Errorf("the redirect target received Authorization %q", h)
		}
		ce.noLeak(t, v)
	})
}
