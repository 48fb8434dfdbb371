package registry

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/testcloud"
	"github.com/pullguard/pullguard/internal/testregistry"
)

const (
	ecrHost     = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	ecrPassword = "ecr-token-password"
)

// cloudEnv is an ECR registry on the test network that accepts the user AWS with the password
// the loopback STS+ECR hands out, and a checker with the webhook's ECR identity enabled whose
// SDK client only dials loopback.
type cloudEnv struct {
	*env
	aws     *testcloud.AWS
	refused *atomic.Int32
	reg     *testregistry.Registry
}

func newCloudEnv(t *testing.T, registryPassword string) *cloudEnv {
	t.Helper()
	e := newEnv(t)
	ce := &cloudEnv{env: e, aws: testcloud.NewAWS(t, ecrPassword), refused: &atomic.Int32{}}
	ce.reg = e.registry(testregistry.Config{Auth: testregistry.AuthBasic, Users: map[string]string{"AWS": registryPassword}}, ecrHost)
	push(t, ce.reg, "team/app:v1")
	return ce
}

func (ce *cloudEnv) options() Options {
	opts := ce.env.options()
	opts.Cloud.ECR.Enabled = true
	opts.Cloud.ECR.HTTPClient = testcloud.LoopbackClient(ce.refused)
	return opts
}

func (ce *cloudEnv) noLeak(t *testing.T, verdicts ...Verdict) {
	t.Helper()
	if n := ce.refused.Load(); n != 0 {
		t.Errorf("the AWS SDK tried %d non-loopback dials", n)
	}
	if r := ce.net.Refused(); len(r) != 0 {
		t.Errorf("the registry transport tried non-loopback dials: %v", r)
	}
	for _, v := range verdicts {
		if s := fmt.Sprintf("%+v", v); strings.Contains(s, ecrPassword) {
			t.Errorf("a verdict carries the ECR token: %s", s)
		}
	}
}

// TestCloudECR: with the webhook's own ECR identity, ECR images without a matching pull secret
// are checked like any other: found is pullable (with the note that the nodes' permission is
// unknown), missing is a denial, and the identity's own failures leave it unverifiable.
func TestCloudECR(t *testing.T) {
	tests := map[string]struct {
		image            string
		registryPassword string
		ecrStatus        int32
		outcome          Outcome
		class            Class
		words, notes     []string
	}{
		"tag exists": {image: ecrHost + "/team/app:v1", outcome: Pullable, class: ClassOK,
			notes: []string{"webhook's own ECR identity", "nodes' identity may pull it was not checked"}},
		"tag missing":        {image: ecrHost + "/team/app:v2", outcome: NotPullable, class: ClassTagNotFound, words: []string{"v2"}},
		"repository missing": {image: ecrHost + "/team/nothing:v1", outcome: NotPullable, class: ClassRepositoryNotFound},
		"identity refused by the registry": {image: ecrHost + "/team/app:v1", registryPassword: "other", outcome: Unverifiable, class: ClassCloudIdentity,
			words: []string{"refused the webhook's own ECR identity", "401", "not in question"}},
		"token exchange refused": {image: ecrHost + "/team/app:v1", ecrStatus: 400, outcome: Unverifiable, class: ClassCloudIdentity,
			words: []string{"webhook's own ECR identity got no token", "not in question"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ce := newCloudEnv(t, cmpOr(tc.registryPassword, ecrPassword))
			ce.aws.ECRStatus.Store(tc.ecrStatus)
			c := ce.checker(ce.options())
			v := c.Check(ctxTimeout(t, 30*time.Second), Request{Image: tc.image})
			assertVerdict(t, v, tc.outcome, tc.class, tc.words, tc.notes)
			ce.noLeak(t, v)
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestCloudECRDown: the cloud API not answering is the identity's problem, not the image's.
func TestCloudECRDown(t *testing.T) {
	ce := newCloudEnv(t, ecrPassword)
	ce.aws.Server.Close()
	v := ce.checker(ce.options()).Check(ctxTimeout(t, 30*time.Second), Request{Image: ecrHost + "/team/app:v1"})
	assertVerdict(t, v, Unverifiable, ClassCloudIdentity, []string{"webhook's own ECR identity got no token"}, nil)
	ce.noLeak(t, v)
}

// TestCloudPullSecretWins: a pull secret that matches the ECR host decides, as for the kubelet;
// the webhook's identity is not even asked for a token.
func TestCloudPullSecretWins(t *testing.T) {
	ce := newCloudEnv(t, ecrPassword)
	c := ce.checker(ce.options())
	secret := dockerSecret("ecrcred", map[string]entry{ecrHost: {user: "AWS", password: "stale"}})
	v := c.Check(ctxTimeout(t, 30*time.Second), Request{Image: ecrHost + "/team/app:v1", Keyring: keyringOf(secret), TrustedCaller: true})
	if v.Class == ClassCloudIdentity || v.Outcome == Pullable || !strings.Contains(v.Credential, "ecrcred") {
		t.Errorf("verdict %s/%s with %s, want the pull secret's own failure", v.Outcome, v.Class, v.Credential)
	}
	// A caller without a verified certificate gets the same decision, without the secret's name.
	u := c.Check(ctxTimeout(t, 30*time.Second), Request{Image: ecrHost + "/team/app:v1", Keyring: keyringOf(secret)})
	if u.Outcome != v.Outcome || u.Class != v.Class || strings.Contains(u.Message(), "ecrcred") {
		t.Errorf("untrusted verdict %s/%s %q, want %s/%s without the secret's name", u.Outcome, u.Class, u.Message(), v.Outcome, v.Class)
	}
	if n := ce.aws.ECRCalls.Load(); n != 0 {
		t.Errorf("%d ECR token exchanges with a matching pull secret, want 0", n)
	}
	ce.noLeak(t, v)
}

// TestCloudECRBurst: concurrent admissions of several ECR images make one token exchange.
func TestCloudECRBurst(t *testing.T) {
	ce := newCloudEnv(t, ecrPassword)
	for i := range 5 {
		push(t, ce.reg, fmt.Sprintf("team/app%d:v1", i))
	}
	c := ce.checker(ce.options())
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			v := c.Check(ctxTimeout(t, 30*time.Second), Request{Image: fmt.Sprintf("%s/team/app%d:v1", ecrHost, i%5)})
			if v.Outcome != Pullable {
				t.Errorf("verdict %s/%s: %s", v.Outcome, v.Class, v.Message())
			}
		})
	}
	wg.Wait()
	if n := ce.aws.ECRCalls.Load(); n != 1 {
		t.Errorf("20 checks made %d ECR token exchanges, want 1", n)
	}
	ce.noLeak(t)
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

// TestCloudLookAlikeHost: a host that only looks like ECR never gets the webhook's token,
// and no token is even asked for.
func TestCloudLookAlikeHost(t *testing.T) {
	ce := newCloudEnv(t, ecrPassword)
	rec := &authRecorder{}
	for _, h := range []string{ecrHost + ".evil", "x.dkr.ecr.us-east-1.amazonaws.com", "a." + ecrHost} {
		serveTLS(t, ce.ca, ce.net, rec, h)
	}
	c := ce.checker(ce.options())
	for _, h := range []string{ecrHost + ".evil", "x.dkr.ecr.us-east-1.amazonaws.com", "a." + ecrHost} {
		v := c.Check(ctxTimeout(t, 30*time.Second), Request{Image: h + "/team/app:v1"})
		if v.Outcome == Pullable || v.Class == ClassCloudIdentity {
			t.Errorf("%s: verdict %s/%s", h, v.Outcome, v.Class)
		}
	}
	if got := rec.headers(); len(got) != 0 {
		t.Errorf("look-alike hosts received Authorization headers: %q", got)
	}
	if n := ce.aws.ECRCalls.Load(); n != 0 {
		t.Errorf("%d ECR token exchanges for look-alike hosts, want 0", n)
	}
	ce.noLeak(t)
}

// TestCloudRedirectKeepsToken: an ECR host redirecting the manifest to another host does not
// take the token along.
func TestCloudRedirectKeepsToken(t *testing.T) {
	ce := newCloudEnv(t, ecrPassword)
	rec := &authRecorder{}
	const elsewhere = "elsewhere.example"
	serveTLS(t, ce.ca, ce.net, rec, elsewhere)
	const redirecting = "210987654321.dkr.ecr.us-east-1.amazonaws.com"
	serveTLS(t, ce.ca, ce.net, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "AWS" || p != ecrPassword {
			w.Header().Set("WWW-Authenticate", `Basic realm="ecr"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/v2/" {
			return
		}
		http.Redirect(w, r, "https://"+elsewhere+r.URL.Path, http.StatusTemporaryRedirect)
	}), redirecting)
	c := ce.checker(ce.options())
	v := c.Check(ctxTimeout(t, 30*time.Second), Request{Image: redirecting + "/team/app:v1"})
	if v.Outcome == Pullable {
		t.Errorf("verdict %s/%s", v.Outcome, v.Class)
	}
	for _, h := range rec.headers() {
		t.Errorf("the redirect target received Authorization %q", h)
	}
	ce.noLeak(t, v)
}
