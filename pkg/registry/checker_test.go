package registry

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/testregistry"
)

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
		"cache bytes":       func(o *Options) { o.CacheBytes = minCacheBytes - 1 },
		"index cache bytes": func(o *Options) { o.IndexCacheBytes = 0 },
		"per-host over per-domain": func(o *Options) {
			o.Limits.MaxRequestsPerHost, o.Limits.MaxRequestsPerDomain = 8, 4
		},
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
