package registry

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/internal/testregistry"
)

// tokenRegistry starts a Bearer registry at reg.example.com with user alice and team/app tags.
func tokenRegistry(t testing.TB, e *env, tags ...string) *testregistry.Registry {
	t.Helper()
	r := e.registry(testregistry.Config{Auth: testregistry.AuthBearer, Users: map[string]string{"alice": "right"}}, "reg.example.com")
	for _, tag := range tags {
		push(t, r, "team/app:"+tag)
	}
	return r
}

func aliceSecret() corev1.Secret {
	return dockerSecret("regcred", map[string]entry{"reg.example.com": {user: "alice", password: "right"}})
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestTokenReuse proves that the ping and the bearer token are paid once per credential and
// repository, and that a reused puller is not bound to the context of the call that created it.
func TestTokenReuse(t *testing.T) {
	e := newEnv(t)
	reg := tokenRegistry(t, e, "v1", "v2", "v3", "v4", "v5", "v6")
	c := e.checker(e.options())
	kr := keyringOf(aliceSecret())

	first, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	v := c.Check(first, Request{Image: "reg.example.com/team/app:v1", Keyring: kr})
	cancel() // the context that ran the handshake is gone from here on
	assertVerdict(t, v, Pullable, ClassOK, nil, nil)
	for _, tag := range []string{"v2", "v3", "v4", "v5"} {
		v := c.Check(ctxTimeout(t, 5*time.Second), Request{Image: "reg.example.com/team/app:" + tag, Keyring: kr})
		assertVerdict(t, v, Pullable, ClassOK, nil, nil)
	}
	if got := reg.Counts(); got[testregistry.KindToken] != 1 || got[testregistry.KindPing] != 1 || got[testregistry.KindManifestHead] != 5 {
		t.Errorf("registry requests = %v, want 1 token, 1 ping, 5 manifest HEADs", got)
	}

	// Each call's own deadline still bounds its requests on the reused puller.
	reg.SetFault(testregistry.Fault{Hang: true})
	start := time.Now()
	v = c.Check(ctxTimeout(t, 200*time.Millisecond), Request{Image: "reg.example.com/team/app:v6", Keyring: kr})
	assertVerdict(t, v, Unverifiable, ClassTimeout, nil, nil)
	if d := time.Since(start); d > time.Second {
		t.Errorf("check on a hanging registry took %s with a 200ms deadline", d)
	}

	// Another credential for the same repository has a token of its own.
	reg.SetFault(testregistry.Fault{})
	anon := c.Check(ctxTimeout(t, 5*time.Second), Request{Image: "reg.example.com/team/app:v1"})
	assertVerdict(t, anon, NotPullable, ClassUnauthorized, nil, nil)
	if n := reg.Count(testregistry.KindToken); n < 2 {
		t.Errorf("token requests = %d after an anonymous check, want a second token", n)
	}
}

// TestSharedHandshake: two checks of one repository with one credential share the puller's
// handshake, which runs under the context of the first. When that context expires mid-handshake
// the second check, whose own deadline is far away, still gets its answer.
func TestSharedHandshake(t *testing.T) {
	e := newEnv(t)
	reg := tokenRegistry(t, e, "v1", "v2")
	reg.SetFault(testregistry.Fault{Delay: 300 * time.Millisecond, All: true})
	c := e.checker(e.options())
	kr := keyringOf(aliceSecret())

	first := make(chan Verdict, 1)
	go func() {
		first <- c.Check(ctxTimeout(t, 150*time.Millisecond), Request{Image: "reg.example.com/team/app:v1", Keyring: kr})
	}()
	time.Sleep(30 * time.Millisecond)
	second := c.Check(ctxTimeout(t, 10*time.Second), Request{Image: "reg.example.com/team/app:v2", Keyring: kr})
	assertVerdict(t, <-first, Unverifiable, ClassTimeout, nil, nil)
	assertVerdict(t, second, Pullable, ClassOK, nil, nil)
}

// TestDeadline bounds a check against a registry that accepts connections and never answers.
func TestDeadline(t *testing.T) {
	e := newEnv(t)
	hang := e.registry(testregistry.Config{}, "hang.example.com")
	hang.SetFault(testregistry.Fault{Hang: true, All: true})
	c := e.checker(e.options())
	start := time.Now()
	v := c.Check(ctxTimeout(t, 300*time.Millisecond), Request{Image: "hang.example.com/team/app:v1"})
	assertVerdict(t, v, Unverifiable, ClassTimeout, []string{"hang.example.com/team/app:v1"}, nil)
	if d := time.Since(start); d > time.Second {
		t.Errorf("check took %s with a 300ms deadline", d)
	}
}

// TestIndexCache: an index is fetched once per digest; later platform checks of the same
// content cost one HEAD, whatever the candidate platforms.
func TestIndexCache(t *testing.T) {
	e := newEnv(t)
	reg := tokenRegistry(t, e)
	pushIndex(t, reg, "team/multi:v1", plat("linux/amd64"), plat("linux/arm64"))
	// The HEAD path: the probe GETs nothing else (TestSinglePlatformCheck covers GET-first).
	opts := e.options()
	opts.SinglePlatformCheck = false
	c := e.checker(opts)
	kr := keyringOf(aliceSecret())
	for _, platforms := range [][]string{{"linux/amd64"}, {"linux/arm64"}, {"linux/amd64", "linux/arm64"}} {
		v := c.Check(ctxTimeout(t, 5*time.Second), Request{Image: "reg.example.com/team/multi:v1", Keyring: kr, Platforms: ociPlats(platforms...)})
		assertVerdict(t, v, Pullable, ClassOK, nil, nil)
		if fmt.Sprint(v.Platforms) != fmt.Sprint(platforms) {
			t.Errorf("Platforms = %v, want %v", v.Platforms, platforms)
		}
	}
	if heads, gets := reg.Count(testregistry.KindManifestHead), reg.Count(testregistry.KindManifestGet); heads != 3 || gets != 1 {
		t.Errorf("manifest HEADs = %d, GETs = %d; want 3 HEADs and 1 GET", heads, gets)
	}
}

// TestSinglePlatformCheck: when candidate platforms are known and the registry does not meter
// GETs, the probe is one manifest GET instead of a HEAD, and a single-platform image's config
// blob is read once per digest; a compatible platform says nothing (an arm64 node runs arm/v7).
// Otherwise the probe is a HEAD and nothing more is read.
func TestSinglePlatformCheck(t *testing.T) {
	const image = "reg.example.com/team/armv7:v1"
	tests := map[string]struct {
		platforms                      [][]string // one check per entry
		skip                           []string
		disabled                       bool
		wantNotes                      []bool
		wantHeads, wantGets, wantBlobs int64
	}{
		"config read once per digest": {
			platforms: [][]string{{"linux/amd64"}, {"linux/amd64", "linux/arm64"}, {"linux/arm64"}},
			wantNotes: []bool{true, true, false}, wantGets: 3, wantBlobs: 1},
		"no candidate platforms": {
			platforms: [][]string{nil}, wantNotes: []bool{false}, wantHeads: 1},
		"skipped registry": {
			platforms: [][]string{{"linux/amd64"}}, skip: []string{"*.example.com"}, wantNotes: []bool{false}, wantHeads: 1},
		"disabled": {
			platforms: [][]string{{"linux/amd64"}}, disabled: true, wantNotes: []bool{false}, wantHeads: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			reg := tokenRegistry(t, e)
			pushPlatformImage(t, reg, "team/armv7:v1", "linux/arm/v7")
			opts := e.options()
			opts.SinglePlatformCheck, opts.SinglePlatformCheckSkip = !tc.disabled, tc.skip
			c := e.checker(opts)
			for i, platforms := range tc.platforms {
				v := c.Check(ctxTimeout(t, 5*time.Second), Request{Image: image, Keyring: keyringOf(aliceSecret()), Platforms: ociPlats(platforms...)})
				assertVerdict(t, v, Pullable, ClassOK, nil, nil)
				if got := len(v.Notes) > 0; got != tc.wantNotes[i] {
					t.Errorf("check %d (%v): notes %q, want a note: %v", i, platforms, v.Notes, tc.wantNotes[i])
				}
			}
			heads, gets, blobs := reg.Count(testregistry.KindManifestHead), reg.Count(testregistry.KindManifestGet), reg.Count(testregistry.KindOther)
			if heads != tc.wantHeads || gets != tc.wantGets || blobs != tc.wantBlobs {
				t.Errorf("manifest HEADs, GETs, blob GETs = %d, %d, %d; want %d, %d, %d", heads, gets, blobs, tc.wantHeads, tc.wantGets, tc.wantBlobs)
			}
		})
	}
}

// TestSinglePlatformCheckFailures: the check is optional, so a config blob the registry fails to
// serve leaves the verdict as it is, without a note, and a hanging one holds the check for one
// registry timeout, not the caller's whole deadline.
func TestSinglePlatformCheckFailures(t *testing.T) {
	tests := map[string]testregistry.Fault{
		"500":  {Blobs: true, Status: http.StatusInternalServerError},
		"hang": {Blobs: true, Hang: true},
	}
	for name, fault := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			reg := tokenRegistry(t, e)
			pushPlatformImage(t, reg, "team/armv7:v1", "linux/arm/v7")
			reg.SetFault(fault)
			opts := e.options()
			opts.Egress.ResponseHeaderTimeout = 200 * time.Millisecond
			start := time.Now()
			v := e.checker(opts).Check(ctxTimeout(t, 10*time.Second), Request{Image: "reg.example.com/team/armv7:v1", Keyring: keyringOf(aliceSecret()), Platforms: ociPlats("linux/amd64")})
			assertVerdict(t, v, Pullable, ClassOK, nil, nil)
			if len(v.Notes) > 0 {
				t.Errorf("notes %q, want none", v.Notes)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("check took %s; the config read must give up after one registry timeout", took)
			}
		})
	}
}

func TestSimilarTags(t *testing.T) {
	tags := []string{"1.0", "1.1", "1.25", "1.26", "latest", "v2.3.1", "stable", "V9", "2.0", "2.1", "2.2", "2.3", strings.Repeat("a", 129) + "b"}
	tests := map[string]struct {
		want    string
		similar []string
	}{
		"letter O for zero":           {want: "1.O", similar: []string{"1.0"}},
		"letter l for one":            {want: "l.25", similar: []string{"1.25"}},
		"case":                        {want: "v9", similar: []string{"V9"}},
		"missing character":           {want: "stabe", similar: []string{"stable"}},
		"typo in a long tag":          {want: "lastest", similar: []string{"latest"}},
		"two edits in a long tag":     {want: "v2.3.10", similar: []string{"v2.3.1"}},
		"too far":                     {want: "1.999"},
		"two edits in a short tag":    {want: "3.O"},
		"the tag itself never counts": {want: "stable"},
		"two ties":                    {want: "1.x", similar: []string{"1.0", "1.1"}},
		"too many ties":               {want: "2.x"},
		"no tag is longer than 128":   {want: strings.Repeat("a", 128) + "b", similar: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := similarTags(tc.want, tags); !slices.Equal(got, tc.similar) {
				t.Errorf("similarTags(%q) = %q, want %q", tc.want, got, tc.similar)
			}
		})
	}
}

// TestTagSuggestion: a missing tag gets the nearest existing one as a hint, read with the
// credential that got the 404; a failing tag list only loses the hint.
func TestTagSuggestion(t *testing.T) {
	tests := map[string]struct {
		image string
		fault *testregistry.Fault
		want  string // "" : no hint
	}{
		"typo":              {image: "reg.example.com/team/app:1.O", want: `did you mean "1.0"?`},
		"nothing close":     {image: "reg.example.com/team/app:2.999"},
		"tag list fails":    {image: "reg.example.com/team/app:1.O", fault: &testregistry.Fault{Blobs: true, Status: http.StatusInternalServerError}},
		"tag list hangs":    {image: "reg.example.com/team/app:1.O", fault: &testregistry.Fault{Blobs: true, Hang: true}},
		"missing latest":    {image: "reg.example.com/team/app"},
		"repository absent": {image: "reg.example.com/team/nope:1.O"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			reg := tokenRegistry(t, e)
			push(t, reg, "team/app:1.0")
			push(t, reg, "team/app:2.0")
			if tc.fault != nil {
				reg.SetFault(*tc.fault)
			}
			opts := e.options()
			opts.Egress.ResponseHeaderTimeout = 200 * time.Millisecond
			v := e.checker(opts).Check(ctxTimeout(t, 10*time.Second), Request{Image: tc.image, Keyring: keyringOf(aliceSecret())})
			if v.Outcome != NotPullable {
				t.Fatalf("verdict %s/%s: %s", v.Outcome, v.Class, v.Message())
			}
			if got := v.Message(); (tc.want == "") != !strings.Contains(got, "did you mean") || !strings.Contains(got, tc.want) {
				t.Errorf("message %q, want hint %q", got, tc.want)
			}
		})
	}
}

// TestInsecureRegistries: a plain-HTTP registry named in InsecureRegistries is checked over HTTP
// whatever its name (go-containerregistry itself only tries HTTP for names it takes for local
// ones); an unlisted one, or one listed for another port, is never reached over HTTP.
func TestInsecureRegistries(t *testing.T) {
	tests := map[string]struct {
		image    string
		insecure []string
		outcome  Outcome
	}{
		"listed by name":          {image: "plain.example.com/team/app:v1", insecure: []string{"plain.example.com"}, outcome: Pullable},
		"listed with its port":    {image: "plain.example.com:5000/team/app:v1", insecure: []string{"plain.example.com:5000"}, outcome: Pullable},
		"listed for another port": {image: "plain.example.com:5000/team/app:v1", insecure: []string{"plain.example.com:5001"}, outcome: Unverifiable},
		"not listed":              {image: "plain.example.com/team/app:v1", outcome: Unverifiable},
	}
	for testName, tc := range tests {
		t.Run(testName, func(t *testing.T) {
			e := newEnv(t)
			srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
			t.Cleanup(srv.Close)
			img, err := testregistry.RandomImage()
			if err != nil {
				t.Fatal(err)
			}
			ref, err := name.ParseReference(srv.Listener.Addr().String() + "/team/app:v1")
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, img); err != nil {
				t.Fatal(err)
			}
			e.net.AddAddr("plain.example.com", srv.Listener.Addr().String())
			opts := e.options()
			opts.Egress.InsecureRegistries = tc.insecure
			v := e.checker(opts).Check(ctxTimeout(t, 5*time.Second), Request{Image: tc.image})
			if v.Outcome != tc.outcome {
				t.Errorf("verdict %s/%s (%s), want %s", v.Outcome, v.Class, v.Message(), tc.outcome)
			}
		})
	}
}

func TestSinglePlatformCheckSkipsDockerHubByDefault(t *testing.T) {
	e := newEnv(t)
	hub := e.registry(testregistry.Config{Auth: testregistry.AuthBearer, Public: []string{"myorg/app"}}, "index.docker.io", "registry-1.docker.io")
	pushPlatformImage(t, hub, "myorg/app:v1", "linux/arm64")
	opts := e.options()
	opts.SinglePlatformCheckSkip = DefaultOptions().SinglePlatformCheckSkip
	v := e.checker(opts).Check(ctxTimeout(t, 5*time.Second), Request{Image: "myorg/app:v1", Platforms: ociPlats("linux/amd64")})
	assertVerdict(t, v, Pullable, ClassOK, nil, nil)
	if len(v.Notes) > 0 || hub.Count(testregistry.KindManifestGet) != 0 {
		t.Errorf("Docker Hub image inspected: notes %q, %d manifest GETs", v.Notes, hub.Count(testregistry.KindManifestGet))
	}
}

// TestCoalescing: 500 concurrent identical cold checks make one upstream manifest request.
// With the positive cache off and a slow registry only singleflight can explain the count; with
// the defaults and a fast registry, late callers also meet the verdict the flight stored.
func TestCoalescing(t *testing.T) {
	tests := map[string]struct {
		positiveTTL time.Duration
		delay       time.Duration
	}{
		"singleflight alone": {delay: 200 * time.Millisecond},
		"defaults":           {positiveTTL: DefaultOptions().PositiveTTL},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			reg := tokenRegistry(t, e, "v1")
			reg.SetFault(testregistry.Fault{Delay: tc.delay})
			opts := e.options()
			opts.PositiveTTL = tc.positiveTTL
			c := e.checker(opts)
			kr := keyringOf(aliceSecret())

			const n = 500
			var wg sync.WaitGroup
			verdicts := make([]Verdict, n)
			startLine := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-startLine
					verdicts[i] = c.Check(ctxTimeout(t, 10*time.Second), Request{Image: "reg.example.com/team/app:v1", Keyring: kr})
				})
			}
			close(startLine)
			wg.Wait()
			for i, v := range verdicts {
				if v.Outcome != Pullable {
					t.Fatalf("check %d: %s/%s %s", i, v.Outcome, v.Class, v.Message())
				}
			}
			if got := reg.Count(testregistry.KindManifestHead) + reg.Count(testregistry.KindManifestGet); got != 1 {
				t.Errorf("upstream manifest requests = %d, want 1", got)
			}
		})
	}
}

// slowFlight is a Bearer registry whose answers take 300 ms, a checker that caches nothing, and
// a request for it: room for a second caller to join the first one's flight.
func slowFlight(t *testing.T) (*testregistry.Registry, *Checker, Request) {
	t.Helper()
	e := newEnv(t)
	reg := tokenRegistry(t, e, "v1")
	reg.SetFault(testregistry.Fault{Delay: 300 * time.Millisecond})
	opts := e.options()
	opts.PositiveTTL = 0
	c := e.checker(opts)
	req := Request{Image: "reg.example.com/team/app:v1", Keyring: keyringOf(aliceSecret())}
	return reg, c, req
}

// TestCoalescingLeaderGoesAway: the caller whose check started the shared flight gives up; the
// others still get the registry's answer, from that same flight.
func TestCoalescingLeaderGoesAway(t *testing.T) {
	reg, c, req := slowFlight(t)

	leaderCtx, cancelLeader := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelLeader()
	leader := make(chan Verdict, 1)
	go func() { leader <- c.Check(leaderCtx, req) }()
	time.Sleep(50 * time.Millisecond)
	follower := make(chan Verdict, 1)
	go func() { follower <- c.Check(ctxTimeout(t, 5*time.Second), req) }()
	time.Sleep(50 * time.Millisecond)
	cancelLeader()

	assertVerdict(t, <-leader, Unverifiable, ClassTimeout, nil, nil)
	assertVerdict(t, <-follower, Pullable, ClassOK, nil, nil)
	if n := reg.Count(testregistry.KindManifestHead); n != 1 {
		t.Errorf("manifest HEADs = %d, want 1 shared by leader and follower", n)
	}
}

// TestCoalescingShortLeaderDeadline: the shared flight is bounded by the deadline of the caller
// that started it; a follower with a longer deadline then checks again under its own.
func TestCoalescingShortLeaderDeadline(t *testing.T) {
	_, c, req := slowFlight(t)

	leader := make(chan Verdict, 1)
	go func() { leader <- c.Check(ctxTimeout(t, 150*time.Millisecond), req) }()
	time.Sleep(30 * time.Millisecond)
	v := c.Check(ctxTimeout(t, 5*time.Second), req)
	assertVerdict(t, <-leader, Unverifiable, ClassTimeout, nil, nil)
	assertVerdict(t, v, Pullable, ClassOK, nil, nil)
}

// TestConcurrencyLimit: MaxConcurrentRequests caps round trips across checks.
func TestConcurrencyLimit(t *testing.T) {
	e := newEnv(t)
	reg := e.registry(testregistry.Config{}, "open.example.com")
	for i := range 6 {
		push(t, reg, fmt.Sprintf("team/app%d:v1", i))
	}
	reg.SetFault(testregistry.Fault{Delay: 50 * time.Millisecond, All: true})
	opts := e.options()
	opts.MaxConcurrentRequests = 2
	c := e.checker(opts)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			v := c.Check(ctxTimeout(t, 10*time.Second), Request{Image: fmt.Sprintf("open.example.com/team/app%d:v1", i)})
			if v.Outcome != Pullable {
				t.Errorf("app%d: %s", i, v.Message())
			}
		})
	}
	wg.Wait()
	if m := reg.MaxInFlight(); m > 2 {
		t.Errorf("registry saw %d concurrent requests, want at most 2", m)
	}
}

func TestRetries(t *testing.T) {
	tests := map[string]struct {
		fault      testregistry.Fault
		maxRetries int
		backoff    time.Duration
		timeout    time.Duration
		outcome    Outcome
		class      Class
		heads      int64
	}{
		"one 503 is retried": {
			fault: testregistry.Fault{Status: http.StatusServiceUnavailable, Times: 1}, maxRetries: 1,
			outcome: Pullable, class: ClassOK, heads: 2,
		},
		"no retries configured": {
			fault:   testregistry.Fault{Status: http.StatusServiceUnavailable, Times: 1},
			outcome: Unverifiable, class: ClassRegistryUnavailable, heads: 1,
		},
		"retries stop at MaxRetries": {
			fault: testregistry.Fault{Status: http.StatusBadGateway}, maxRetries: 2,
			outcome: Unverifiable, class: ClassRegistryUnavailable, heads: 3,
		},
		"no retry when the deadline leaves no room": {
			fault: testregistry.Fault{Status: http.StatusServiceUnavailable, Times: 1}, maxRetries: 1,
			backoff: time.Second, timeout: 500 * time.Millisecond,
			outcome: Unverifiable, class: ClassRegistryUnavailable, heads: 1,
		},
		"429 is never retried": {
			fault: testregistry.Fault{Status: http.StatusTooManyRequests, Times: 1}, maxRetries: 3,
			outcome: Unverifiable, class: ClassRateLimited, heads: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			reg := e.registry(testregistry.Config{}, "open.example.com")
			push(t, reg, "team/app:v1")
			reg.SetFault(tc.fault)
			opts := e.options()
			opts.MaxRetries = tc.maxRetries
			if tc.backoff != 0 {
				opts.RetryBackoff = tc.backoff
			}
			c := e.checker(opts)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			v := c.Check(ctxTimeout(t, timeout), Request{Image: "open.example.com/team/app:v1"})
			assertVerdict(t, v, tc.outcome, tc.class, nil, nil)
			if n := reg.Count(testregistry.KindManifestHead); n != tc.heads {
				t.Errorf("manifest HEADs = %d, want %d", n, tc.heads)
			}
		})
	}
}

// fakeClock drives the verdict cache's TTLs.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func TestCacheTTLs(t *testing.T) {
	e := newEnv(t)
	reg := tokenRegistry(t, e, "v1", "v4")
	digest := push(t, reg, "team/app:v2")
	opts := e.options()
	opts.MaxRetries = 0
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	c, err := newChecker(opts, clock)
	if err != nil {
		t.Fatal(err)
	}
	kr := keyringOf(aliceSecret())
	type step struct {
		advance time.Duration
		fault   *testregistry.Fault
		outcome Outcome
		cached  bool
		notes   []string
	}
	tests := map[string]struct {
		image string
		steps []step
	}{
		"tag: PositiveTTL": {image: "reg.example.com/team/app:v1", steps: []step{
			{outcome: Pullable},
			{advance: opts.PositiveTTL - time.Second, outcome: Pullable, cached: true},
			{advance: 2 * time.Second, outcome: Pullable},
		}},
		"digest: DigestTTL": {image: "reg.example.com/team/app@" + digest.String(), steps: []step{
			{outcome: Pullable},
			{advance: 23 * time.Hour, outcome: Pullable, cached: true},
			{advance: 2 * time.Hour, outcome: Pullable},
		}},
		"missing tag: NegativeTTL": {image: "reg.example.com/team/app:nope", steps: []step{
			{outcome: NotPullable},
			{advance: opts.NegativeTTL - time.Second, outcome: NotPullable, cached: true},
			{advance: 2 * time.Second, outcome: NotPullable},
		}},
		"outage: Unverifiable is not cached": {image: "reg.example.com/team/app:v3", steps: []step{
			{fault: &testregistry.Fault{Status: http.StatusServiceUnavailable}, outcome: Unverifiable},
			{outcome: Unverifiable},
			{fault: &testregistry.Fault{}, outcome: NotPullable},
		}},
		"stale on error": {image: "reg.example.com/team/app:v4", steps: []step{
			{outcome: Pullable},
			{advance: opts.PositiveTTL + time.Minute, fault: &testregistry.Fault{Status: http.StatusServiceUnavailable}, outcome: Pullable, cached: true,
				notes: []string{"the registry could not be checked now (registry reg.example.com unavailable (503", "from a check 6m0s ago"}},
			{advance: opts.StaleTTL, outcome: Unverifiable},
			{fault: &testregistry.Fault{}, outcome: Pullable},
		}},
	}
	// Sequential: the cases share the registry's fault switch and the clock.
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Cleanup(func() { reg.SetFault(testregistry.Fault{}) })
			for i, s := range tc.steps {
				clock.advance(s.advance)
				if s.fault != nil {
					reg.SetFault(*s.fault)
				}
				before := reg.Count(testregistry.KindManifestHead)
				v := c.Check(ctxTimeout(t, 5*time.Second), Request{Image: tc.image, Keyring: kr})
				if v.Outcome != s.outcome || v.Cached != s.cached {
					t.Fatalf("step %d: %s cached=%v, want %s cached=%v: %s", i, v.Outcome, v.Cached, s.outcome, s.cached, v.Message())
				}
				heads := reg.Count(testregistry.KindManifestHead) - before
				if fromCache := s.cached && len(s.notes) == 0; fromCache != (heads == 0) {
					t.Errorf("step %d: %d manifest HEADs for a verdict with cached=%v", i, heads, s.cached)
				}
				assertVerdict(t, v, s.outcome, v.Class, nil, s.notes)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	tokenRegistry(t, e, "v1")
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.Registerer = reg
	c := e.checker(opts)
	// A second Checker on the same registry shares the collectors instead of failing.
	e.checker(opts)
	blockedOpts := opts
	blockedOpts.Egress.AllowPrivate = nil
	blocked := e.checker(blockedOpts)

	kr := keyringOf(aliceSecret())
	for range 2 {
		c.Check(ctxTimeout(t, 5*time.Second), Request{Image: "reg.example.com/team/app:v1", Keyring: kr})
	}
	c.Check(ctxTimeout(t, 5*time.Second), Request{Image: "reg.example.com/team/app:nope", Keyring: kr})
	c.Check(ctxTimeout(t, 5*time.Second), Request{Image: "reg.example.com/team/app:nope", Keyring: kr})
	blocked.Check(ctxTimeout(t, 5*time.Second), Request{Image: "reg.example.com/team/app:v1"})

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	labels := map[string]map[string]bool{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			var key []string
			for _, lp := range m.GetLabel() {
				if labels[mf.GetName()] == nil {
					labels[mf.GetName()] = map[string]bool{}
				}
				labels[mf.GetName()][lp.GetName()] = true
				key = append(key, lp.GetName()+"="+lp.GetValue())
			}
			v := m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
			got[mf.GetName()+"{"+strings.Join(key, ",")+"}"] = v
		}
	}
	want := map[string]float64{
		"pullguard_registry_cache_total{result=hit}":                                     1,
		"pullguard_registry_cache_total{result=negative_hit}":                            1,
		"pullguard_registry_cache_total{result=miss}":                                    3,
		"pullguard_registry_request_duration_seconds{outcome=ok}":                        1,
		"pullguard_registry_request_duration_seconds{outcome=tag_not_found}":             1,
		"pullguard_registry_request_duration_seconds{outcome=blocked_by_network_policy}": 1,
		"pullguard_registry_blocked_connections_total{reason=loopback}":                  1,
		"pullguard_registry_upstream_requests_total{kind=token}":                         1,
		"pullguard_registry_upstream_requests_total{kind=manifest_head}":                 2,
		"pullguard_registry_upstream_requests_total{kind=manifest_get}":                  1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	wantLabels := map[string]string{
		"pullguard_registry_cache_total":               "result",
		"pullguard_registry_request_duration_seconds":  "outcome",
		"pullguard_registry_blocked_connections_total": "reason",
		"pullguard_registry_upstream_requests_total":   "kind",
	}
	for name, label := range wantLabels {
		if len(labels[name]) != 1 || !labels[name][label] {
			t.Errorf("%s has labels %v, want only %q", name, labels[name], label)
		}
	}
}

// TestNoSecretInMessages: whatever fails, no password or auth value reaches a verdict.
func TestNoSecretInMessages(t *testing.T) {
	e := newEnv(t)
	tokenRegistry(t, e, "v1")
	basic := e.registry(testregistry.Config{Auth: testregistry.AuthBasic, Users: map[string]string{"alice": "right"}}, "basic.example.com")
	push(t, basic, "team/app:v1")
	c := e.checker(e.options())
	const password = "s3cr3t-P4ssw0rd"
	for _, image := range []string{"reg.example.com/team/app:v1", "reg.example.com/team/nope:v1", "basic.example.com/team/app:v1"} {
		host, _, _ := strings.Cut(image, "/")
		kr := keyringOf(
			dockerSecret("first", map[string]entry{host: {user: "alice", password: password}}),
			dockerSecret("second", map[string]entry{host: {auth: b64("alice:" + password)}}),
		)
		v := c.Check(ctxTimeout(t, 5*time.Second), Request{Image: image, Keyring: kr})
		all := strings.Join(append([]string{v.Message(), v.Credential}, v.Notes...), "\n")
		if v.Outcome != NotPullable {
			t.Errorf("%s: %s, want not pullable", image, v.Outcome)
		}
		for _, secret := range []string{password, b64("alice:" + password)} {
			if strings.Contains(all, secret) {
				t.Errorf("%s: verdict contains a secret:\n%s", image, all)
			}
		}
	}
}

func TestNewValidates(t *testing.T) {
	tests := map[string]func(*Options){
		"retries":           func(o *Options) { o.MaxRetries = 4 },
		"cache size":        func(o *Options) { o.CacheSize = 0 },
		"concurrency":       func(o *Options) { o.MaxConcurrentRequests = 0 },
		"egress timeouts":   func(o *Options) { o.Egress.DialTimeout = 0 },
		"missing CA file":   func(o *Options) { o.Egress.CAFile = "/nonexistent/ca.pem" },
		"mirror of nothing": func(o *Options) { o.Mirrors = map[string][]Mirror{"": {{Host: "mirror.example.com"}}} },
		"mirror with a path": func(o *Options) {
			o.Mirrors = map[string][]Mirror{"docker.io": {{Host: "mirror.example.com/v2/proxy"}}}
		},
		"mirror with a scheme": func(o *Options) {
			o.Mirrors = map[string][]Mirror{"docker.io": {{Host: "https://mirror.example.com"}}}
		},
		"empty mirror": func(o *Options) { o.Mirrors = map[string][]Mirror{"docker.io": {{}}} },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			opts := DefaultOptions()
			mutate(&opts)
			if _, err := New(opts); err == nil {
				t.Error("New accepted invalid options")
			}
		})
	}
}
