package registry_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/zapr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/internal/testregistry"
	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/registry"
)

// secretLog is everything controller-runtime's and pullguard's loggers write in this test
// binary, as the webhook writes it: zap JSON, every verbosity level enabled.
var secretLog struct {
	once sync.Once
	mu   sync.Mutex
	buf  bytes.Buffer
}

// logSink is the zap WriteSyncer behind secretLog.
type logSink struct{}

func (logSink) Write(p []byte) (int, error) {
	secretLog.mu.Lock()
	defer secretLog.mu.Unlock()
	return secretLog.buf.Write(p)
}

func (logSink) Sync() error { return nil }

func capturedLog() string {
	secretLog.mu.Lock()
	defer secretLog.mu.Unlock()
	return secretLog.buf.String()
}

// captureLogs installs the debug JSON logger as controller-runtime's global logger, which the
// admission webhook's request loggers derive from.
func captureLogs() {
	secretLog.once.Do(func() {
		enc := zap.NewProductionEncoderConfig()
		// Level -10 enables every logr V-level, far beyond --log-level=debug.
		core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), logSink{}, zap.NewAtomicLevelAt(zapcore.Level(-10)))
		logf.SetLogger(zapr.NewLogger(zap.New(core)))
	})
}

// TestNoSecretInLogsOrAnswers runs failing authenticated checks through the real admission
// handler (over HTTPS, as the API server calls it) and the real registry engine against fake
// registries, in every mode, and fails if any secret material (passwords, base64 auth strings,
// identity tokens, bearer tokens the token endpoint issued) appears in the debug logs, the
// AdmissionReview answers (status message, causes, warnings, audit annotations) or the metrics.
func TestNoSecretInLogsOrAnswers(t *testing.T) {
	captureLogs()
	ca, caFile, network := testregistry.Trusted(t)
	start := func(host string, cfg testregistry.Config) *testregistry.Registry {
		cfg.CA, cfg.Hosts = ca, []string{host}
		r, err := testregistry.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		img, err := testregistry.RandomImage()
		if err != nil {
			t.Fatal(err)
		}
		for _, repo := range []string{"team/app:v1", "team/other:v1"} {
			if _, err := r.PushImage(repo, img); err != nil {
				t.Fatal(err)
			}
		}
		network.Add(host, r)
		return r
	}
	const password = "Corr3ct-Horse-Battery"
	users := map[string]string{"alice": password}
	bearer := start("bearer.example.com", testregistry.Config{Auth: testregistry.AuthBearer, Users: users,
		Grants: map[string][]string{"alice": {"team/other"}}})
	basic := start("basic.example.com", testregistry.Config{Auth: testregistry.AuthBasic, Users: users})

	type entry struct{ Username, Password, Auth, IdentityToken string }
	tests := map[string]struct {
		image string
		entry entry
		// secrets are the values that must not leak, beyond the entry's own fields.
		secrets []string
	}{
		"bearer, wrong password": {
			image: "bearer.example.com/team/app:v1",
			entry: entry{Username: "alice", Password: "Wrong-Pa55word-b7e1"},
		},
		"bearer, wrong password in auth only": {
			image: "bearer.example.com/team/app:v1",
			entry: entry{Auth: b64("alice:Wr0ng-Auth-Field-9c2d")},
		},
		"bearer, right password, repository not granted": {
			image: "bearer.example.com/team/app:v1",
			entry: entry{Username: "alice", Password: password, IdentityToken: "idt-5f0e7c1a9b3d"},
		},
		"bearer, identity token only": {
			image: "bearer.example.com/team/app:v1",
			entry: entry{IdentityToken: "idt-only-2a8f6d4e"},
		},
		"basic, wrong password": {
			image: "basic.example.com/team/app:v1",
			entry: entry{Username: "alice", Password: "Wrong-Basic-Pa55-4e8a"},
		},
		"basic, wrong password in auth only": {
			image: "basic.example.com/team/app:v1",
			entry: entry{Auth: b64("alice:Wr0ng-Basic-Auth-1f3b")},
		},
	}
	var answers bytes.Buffer
	var secrets []string
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			host, _, _ := strings.Cut(tc.image, "/")
			doc, err := json.Marshal(map[string]map[string]map[string]string{"auths": {host: {
				"username": tc.entry.Username, "password": tc.entry.Password, "auth": tc.entry.Auth, "identitytoken": tc.entry.IdentityToken,
			}}})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{tc.entry.Password, tc.entry.Auth, tc.entry.IdentityToken} {
				if s != "" {
					secrets = append(secrets, s)
				}
			}
			if tc.entry.Password != "" {
				secrets = append(secrets, b64(tc.entry.Username+":"+tc.entry.Password))
			}
			if tc.entry.Auth != "" {
				plain, err := base64.StdEncoding.DecodeString(tc.entry.Auth)
				if err != nil {
					t.Fatal(err)
				}
				_, pass, _ := strings.Cut(string(plain), ":")
				secrets = append(secrets, pass)
			}
			secret := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "app"},
				Type:       corev1.SecretTypeDockerConfigJson,
				Data:       map[string][]byte{corev1.DockerConfigJsonKey: doc},
			}
			metrics := prometheus.NewRegistry()
			for _, mode := range []admission.Mode{admission.ModeEnforce, admission.ModeWarn, admission.ModeAudit} {
				answer := secretCheck(t, secretEnv{caFile: caFile, network: network, metrics: metrics, secret: secret, image: tc.image, mode: mode})
				answers.Write(answer)
			}
			var text bytes.Buffer
			families, err := metrics.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range families {
				if _, err := expfmt.MetricFamilyToText(&text, f); err != nil {
					t.Fatal(err)
				}
			}
			answers.Write(text.Bytes())
		})
	}
	secrets = append(secrets, password, b64("alice:"+password))
	issued := append(bearer.IssuedTokens(), basic.IssuedTokens()...)
	if len(issued) == 0 {
		t.Fatal("the token endpoint issued no token: the bearer cases did not reach it")
	}
	secrets = append(secrets, issued...)

	logs := capturedLog()
	if !strings.Contains(logs, `"admission decision"`) {
		t.Fatalf("the captured logs lack the handler's decision lines; the logger was not wired:\n%s", logs)
	}
	for _, s := range secrets {
		for _, form := range secretForms(s) {
			for where, text := range map[string]string{"logs": logs, "answers or metrics": answers.String()} {
				if i := strings.Index(text, form); i >= 0 {
					t.Errorf("secret %q (as %q) appears in the %s: …%s…", s, form, where, text[max(0, i-200):min(len(text), i+len(form)+200)])
				}
			}
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("%d log bytes and %d answer bytes checked for %d secrets", len(logs), answers.Len(), len(secrets))
	}
	if os.Getenv("PULLGUARD_DUMP_SECRET_TEST") != "" {
		t.Logf("logs:\n%s\nanswers:\n%s", logs, answers.String())
	}
}

// secretForms are the encodings under which a secret could leak.
func secretForms(s string) []string {
	forms := []string{s, url.QueryEscape(s), base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s))}
	if j, err := json.Marshal(s); err == nil {
		forms = append(forms, strings.Trim(string(j), `"`))
	}
	return forms
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

type secretEnv struct {
	caFile  string
	network *testregistry.Network
	metrics *prometheus.Registry
	secret  *corev1.Secret
	image   string
	mode    admission.Mode
	// denyUnverifiable makes enforce mode deny Unverifiable verdicts too.
	denyUnverifiable bool
}

// secretCheck builds a fresh engine and handler (nothing cached, so every check goes to the
// registry), sends one Pod CREATE through the handler's HTTPS endpoint, checks that the answer
// is a refusal or a finding, and returns the raw answer.
func secretCheck(t *testing.T, e secretEnv) []byte {
	t.Helper()
	opts := registry.DefaultOptions()
	opts.Egress.AllowPrivate = []string{"127.0.0.0/8"}
	opts.Egress.CAFile = e.caFile
	opts.Egress.Resolver = e.network
	opts.Egress.Dial = e.network.Dial
	opts.RetryBackoff = 10 * time.Millisecond
	opts.Registerer = prometheus.WrapRegistererWith(prometheus.Labels{"engine": string(e.mode)}, e.metrics)
	checker, err := registry.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := admission.DefaultConfig()
	cfg.DefaultMode = e.mode
	cfg.DenyUnverifiable = e.denyUnverifiable
	reader := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(e.secret.DeepCopy()).Build()
	metrics, err := admission.NewMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"handler": string(e.mode)}, e.metrics))
	if err != nil {
		t.Fatal(err)
	}
	h, err := admission.NewHandler(cfg, checker, reader, reader, metrics)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h.HTTPHandler())
	defer srv.Close()

	pod, err := json.Marshal(&corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "app"},
		Spec: corev1.PodSpec{
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
			Containers:       []corev1.Container{{Name: "web", Image: e.image}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	review, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "secret-test", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Name: "web", Namespace: "app",
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: pod},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+admission.Path+"?timeout=10s", bytes.NewReader(review))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &out); err != nil || out.Response == nil {
		t.Fatalf("undecodable answer %q: %v", raw, err)
	}
	r := out.Response
	// The check must have failed, or the test proves nothing about failing checks.
	failed := map[admission.Mode]bool{
		admission.ModeEnforce: !r.Allowed,
		admission.ModeWarn:    r.Allowed && len(r.Warnings) > 0,
		admission.ModeAudit:   r.Allowed && len(r.AuditAnnotations) > 0,
	}[e.mode]
	if !failed {
		t.Fatalf("%s mode: the authenticated check of %s did not fail: %s", e.mode, e.image, raw)
	}
	return fmt.Appendf(raw, "\n")
}
