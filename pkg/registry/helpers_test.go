package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/internal/testregistry"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// env is a hermetic test network: registries on loopback, reachable under real-looking names
// through an injected resolver and dialer that never leave the machine, all signed by one CA
// that the checker trusts through a CA file.
type env struct {
	t      testing.TB
	ca     *testregistry.CA
	caFile string
	net    *testregistry.Network
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ca, caFile, network := testregistry.Trusted(t)
	return &env{t: t, ca: ca, caFile: caFile, net: network}
}

// registry starts a registry signed by the env's CA and reachable as each of names.
func (e *env) registry(cfg testregistry.Config, names ...string) *testregistry.Registry {
	e.t.Helper()
	if cfg.CA == nil {
		cfg.CA = e.ca
	}
	cfg.Hosts = append(cfg.Hosts, names...)
	r, err := testregistry.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(r.Close)
	for _, n := range names {
		e.net.Add(n, r)
	}
	return r
}

// options are the defaults with loopback opened, the env's CA, resolver and dialer, and a short
// retry backoff.
func (e *env) options() Options {
	opts := DefaultOptions()
	opts.Egress.AllowPrivate = []string{"127.0.0.0/8"}
	opts.Egress.CAFile = e.caFile
	opts.Egress.Resolver = e.net
	opts.Egress.Dial = e.net.Dial
	opts.RetryBackoff = 10 * time.Millisecond
	return opts
}

func (e *env) checker(opts Options) *Checker {
	e.t.Helper()
	c, err := New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func push(t testing.TB, r *testregistry.Registry, repoTag string) v1.Hash {
	t.Helper()
	return pushImage(t, r, repoTag, testregistry.RandomImage)
}

// pushPlatformImage pushes a single-platform image whose config names platform.
func pushPlatformImage(t testing.TB, r *testregistry.Registry, repoTag, platform string) v1.Hash {
	t.Helper()
	return pushImage(t, r, repoTag, func() (v1.Image, error) { return testregistry.PlatformImage(*plat(platform)) })
}

func pushImage(t testing.TB, r *testregistry.Registry, repoTag string, build func() (v1.Image, error)) v1.Hash {
	t.Helper()
	img, err := build()
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.PushImage(repoTag, img)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func pushIndex(t testing.TB, r *testregistry.Registry, repoTag string, platforms ...*v1.Platform) v1.Hash {
	t.Helper()
	idx, err := testregistry.PlatformIndex(platforms...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.PushIndex(repoTag, idx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func plat(s string) *v1.Platform {
	p, err := v1.ParsePlatform(s)
	if err != nil {
		panic(err)
	}
	return p
}

func ociPlats(ss ...string) []ocispec.Platform {
	out := make([]ocispec.Platform, len(ss))
	for i, s := range ss {
		out[i] = ociPlatform(plat(s))
	}
	return out
}

// entry is one auths entry of a dockerconfigjson secret.
type entry struct {
	user, password, auth, identityToken string
}

func dockerSecret(name string, auths map[string]entry) corev1.Secret {
	doc := map[string]map[string]map[string]string{"auths": {}}
	for key, e := range auths {
		fields := map[string]string{}
		if e.user != "" {
			fields["username"], fields["password"] = e.user, e.password
		}
		if e.auth != "" {
			fields["auth"] = e.auth
		}
		if e.identityToken != "" {
			fields["identitytoken"] = e.identityToken
		}
		doc["auths"][key] = fields
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: b},
	}
}

func keyringOf(secrets ...corev1.Secret) *keyring.Keyring {
	if len(secrets) == 0 {
		return nil
	}
	return keyring.FromSecrets(secrets)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// assertVerdict checks outcome, class and that the message and notes contain each word.
func assertVerdict(t testing.TB, v Verdict, outcome Outcome, class Class, words, noteWords []string) {
	t.Helper()
	if v.Outcome != outcome || v.Class != class {
		t.Fatalf("verdict = %s/%s, want %s/%s\nmessage: %s\nnotes: %q", v.Outcome, v.Class, outcome, class, v.Message(), v.Notes)
	}
	msg := v.Message()
	for _, w := range words {
		if !strings.Contains(msg, w) {
			t.Errorf("message lacks %q:\n%s", w, msg)
		}
	}
	notes := strings.Join(v.Notes, "\n")
	for _, w := range noteWords {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %q:\n%s", w, notes)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message spans several lines: %q", msg)
	}
}

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

// serveTLS serves h as each of hosts on network until the test ends (testregistry.Network.Serve).
func serveTLS(t testing.TB, ca *testregistry.CA, network *testregistry.Network, h http.Handler, hosts ...string) {
	t.Helper()
	f, err := network.Serve(ca, h, hosts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
}

// assertRevealsNoSecret fails when what an untrusted caller is told of v names one of secrets,
// a key, or the keyring's account of them (disclosure.go).
func assertRevealsNoSecret(t *testing.T, v Verdict, secrets []corev1.Secret) {
	t.Helper()
	told := append([]string{v.Detail, v.Fix, v.Credential}, v.Notes...)
	forbidden := []string{"imagePullSecret \"", "(key ", "has entries for", "secret \""}
	for _, s := range secrets {
		forbidden = append(forbidden, strconv.Quote(s.Name))
	}
	for _, text := range told {
		for _, f := range forbidden {
			if strings.Contains(text, f) {
				t.Errorf("untrusted caller told %q, which contains %q", text, f)
			}
		}
	}
}
