package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

func TestMainHelpDocumentsEveryFlag(t *testing.T) {
	var stdout, stderr syncBuffer
	if err := Main(t.Context(), []string{"--help"}, &stdout, &stderr); err != nil {
		t.Fatalf("Main(--help) = %v", err)
	}
	help := stdout.String()
	o := DefaultOptions()
	newFlagSet(&o).VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(help, "--"+f.Name+" ") && !strings.Contains(help, "--"+f.Name+"[") {
			t.Errorf("--help does not document --%s", f.Name)
		}
		if f.Usage == "" {
			t.Errorf("--%s has no usage text", f.Name)
		}
	})
	for _, want := range []string{"(default 9443)", `(default ":8080")`, `(default "warn")`, "(default 50)", "(default 100)", `(default "json")`} {
		if !strings.Contains(help, want) {
			t.Errorf("--help does not show %s", want)
		}
	}
}

func TestMainVersion(t *testing.T) {
	var stdout, stderr syncBuffer
	if err := Main(t.Context(), []string{"--version"}, &stdout, &stderr); err != nil {
		t.Fatalf("Main(--version) = %v", err)
	}
	if out := stdout.String(); !strings.Contains(out, version) || !strings.Contains(out, runtime.Version()) {
		t.Errorf("--version printed %q, want the version %q and %s", out, version, runtime.Version())
	}
}

func TestMainRejectsInvalidFlags(t *testing.T) {
	tests := map[string]struct {
		args []string
		flag string
	}{
		"unknown flag":  {[]string{"--prot", "1"}, "--prot"},
		"bad value":     {[]string{"--port", "x"}, "--port"},
		"invalid range": {[]string{"--max-budget", "45s"}, "--max-budget"},
		"invalid mode":  {[]string{"--default-mode", "deny"}, "--default-mode"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			err := Main(t.Context(), tc.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.flag) {
				t.Fatalf("Main(%q) = %v, want an error naming %s", tc.args, err, tc.flag)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

func TestManagerOptions(t *testing.T) {
	o := DefaultOptions()
	o.MetricsBindAddress = "0"
	o.HealthProbeBindAddress = "127.0.0.1:9100"
	o.GracefulShutdownTimeout = 7 * time.Second
	o.BindAddress = "127.0.0.1"
	o.Port = 9444
	o.CertDir = "/certs"
	got := managerOptions(o, k8sruntime.NewScheme(), nil)

	srv, ok := got.WebhookServer.(*webhook.DefaultServer)
	if !ok {
		t.Fatalf("WebhookServer is %T, want *webhook.DefaultServer", got.WebhookServer)
	}
	uncached := map[string]bool{}
	for _, obj := range got.Client.Cache.DisableFor {
		uncached[fmt.Sprintf("%T", obj)] = true
	}
	tests := map[string]struct{ got, want any }{
		"no leader election":        {got.LeaderElection, false},
		"metrics address":           {got.Metrics.BindAddress, "0"},
		"health address":            {got.HealthProbeBindAddress, "127.0.0.1:9100"},
		"graceful shutdown":         {*got.GracefulShutdownTimeout, 7 * time.Second},
		"webhook host":              {srv.Options.Host, "127.0.0.1"},
		"webhook port":              {srv.Options.Port, 9444},
		"webhook cert dir":          {srv.Options.CertDir, "/certs"},
		"webhook TLS options":       {len(srv.Options.TLSOpts), 1},
		"secrets never cached":      {uncached["*v1.Secret"], true},
		"service accounts uncached": {uncached["*v1.ServiceAccount"], true},
		"managed fields stripped":   {got.Cache.DefaultTransform != nil, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

// TestWebhookServerTLS starts the webhook server exactly as managerOptions builds it and checks
// the TLS floor and the ALPN offer from a client's side.
func TestWebhookServerTLS(t *testing.T) {
	tests := map[string]struct {
		minVersion    string
		http2         bool
		clientMax     uint16
		clientMin     uint16
		clientProtos  []string
		wantHandshake bool
		wantProto     string
	}{
		"TLS 1.1 refused": {minVersion: "1.2", clientMax: tls.VersionTLS11, clientMin: tls.VersionTLS10},
		"TLS 1.2 accepted": {
			minVersion: "1.2", clientMax: tls.VersionTLS12, clientProtos: []string{"http/1.1"},
			wantHandshake: true, wantProto: "http/1.1",
		},
		"TLS 1.2 refused when the floor is 1.3": {minVersion: "1.3", clientMax: tls.VersionTLS12},
		"TLS 1.3 accepted when the floor is 1.3": {
			minVersion: "1.3", clientMax: tls.VersionTLS13, clientProtos: []string{"http/1.1"},
			wantHandshake: true, wantProto: "http/1.1",
		},
		"h2 not negotiated by default": {
			minVersion: "1.2", clientProtos: []string{"h2", "http/1.1"},
			wantHandshake: true, wantProto: "http/1.1",
		},
		"h2-only client refused by default": {
			minVersion: "1.2", clientProtos: []string{"h2"}, wantHandshake: false,
		},
		"h2 negotiated with --enable-http2": {
			minVersion: "1.2", http2: true, clientProtos: []string{"h2", "http/1.1"},
			wantHandshake: true, wantProto: "h2",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := DefaultOptions()
			o.TLSMinVersion = tc.minVersion
			o.EnableHTTP2 = tc.http2
			addr, _ := startWebhookServer(t, o)

			conn, err := tls.Dial("tcp", addr, &tls.Config{
				InsecureSkipVerify: true, //nolint:gosec // the test checks the server's TLS parameters, not its identity.
				MinVersion:         tc.clientMin,
				MaxVersion:         tc.clientMax,
				NextProtos:         tc.clientProtos,
			})
			if !tc.wantHandshake {
				if err == nil {
					conn.Close()
					t.Fatal("handshake succeeded, want it refused")
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			if got := conn.ConnectionState().NegotiatedProtocol; got != tc.wantProto {
				t.Errorf("negotiated %q, want %q", got, tc.wantProto)
			}
		})
	}
}

// TestWebhookServerReloadsRotatedCertificate replaces tls.crt and tls.key under a running server
// and expects new connections to get the new certificate without a restart.
func TestWebhookServerReloadsRotatedCertificate(t *testing.T) {
	addr, dir := startWebhookServer(t, DefaultOptions())
	if got := servedCommonName(t, addr); !strings.HasPrefix(got, "before.pullguard.test") {
		t.Fatalf("served %q before rotation", got)
	}
	writeServingCert(t, dir, "after.pullguard.test")

	deadline := time.Now().Add(30 * time.Second) // certwatcher: fsnotify, with a 10 s poll as a backstop
	for {
		got := servedCommonName(t, addr)
		if strings.HasPrefix(got, "after.pullguard.test") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %q 30s after rotation", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCachesSynced(t *testing.T) {
	tests := map[string]struct {
		synced  bool
		wantErr bool
	}{
		"synced":     {synced: true},
		"not synced": {synced: false, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			check := cachesSynced(fakeCache{synced: tc.synced}, 50*time.Millisecond)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "/readyz", nil)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = check(req)
			if (err != nil) != tc.wantErr {
				t.Fatalf("check = %v, wantErr %v", err, tc.wantErr)
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("check took %s, want it bounded by its timeout", elapsed)
			}
		})
	}
}

// fakeCache answers WaitForCacheSync like the informer cache: true once synced, false when the
// context ends first.
type fakeCache struct {
	cache.Cache
	synced bool
}

func (f fakeCache) WaitForCacheSync(ctx context.Context) bool {
	if f.synced {
		return true
	}
	<-ctx.Done()
	return false
}

func TestRestConfig(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := func(name, server string) string {
		p := filepath.Join(dir, name)
		content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`, server)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flagFile := kubeconfig("flag", "https://127.0.0.1:6443")
	envFile := kubeconfig("env", "https://127.0.0.1:7443")

	tests := map[string]struct {
		flag, env string
		wantHost  string
		wantErr   bool
	}{
		"flag":                      {flag: flagFile, wantHost: "https://127.0.0.1:6443"},
		"flag wins over KUBECONFIG": {flag: flagFile, env: envFile, wantHost: "https://127.0.0.1:6443"},
		"KUBECONFIG":                {env: envFile, wantHost: "https://127.0.0.1:7443"},
		"KUBECONFIG list":           {env: filepath.Join(dir, "missing") + string(filepath.ListSeparator) + envFile, wantHost: "https://127.0.0.1:7443"},
		"missing flag file":         {flag: filepath.Join(dir, "missing"), wantErr: true},
		"neither: in-cluster":       {wantErr: true}, // KUBERNETES_SERVICE_HOST is cleared below
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := restConfig(tc.flag, tc.env)
			if (err != nil) != tc.wantErr {
				t.Fatalf("restConfig = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				if tc.flag == "" && !errors.Is(err, rest.ErrNotInCluster) {
					t.Errorf("error = %v, want rest.ErrNotInCluster", err)
				}
				return
			}
			if cfg.Host != tc.wantHost {
				t.Errorf("Host = %q, want %q", cfg.Host, tc.wantHost)
			}
		})
	}
}

// TestLogOutputFollowsEachMain checks that loggers taken before a re-target (controller-runtime
// keeps its own) write to the latest writer, at the latest level, with their fields.
func TestLogOutputFollowsEachMain(t *testing.T) {
	var first, second syncBuffer
	log := setLogOutput(&first, zapcore.InfoLevel, "json").WithName("test").WithValues("component", "x")
	log.Info("one")
	log.V(1).Info("hidden at info")

	setLogOutput(&second, zapcore.DebugLevel, "json")
	log.V(1).Info("two")

	if got := first.String(); !strings.Contains(got, `"msg":"one"`) || strings.Contains(got, "hidden") || strings.Contains(got, "two") {
		t.Errorf("first writer got %q", got)
	}
	if got := second.String(); !strings.Contains(got, `"msg":"two"`) || !strings.Contains(got, `"component":"x"`) ||
		!strings.Contains(got, `"logger":"test"`) || !strings.Contains(got, `"v":1`) {
		t.Errorf("second writer got %q, want the message with its name and fields", got)
	}
}

func TestStartupKeysHoldNoSecrets(t *testing.T) {
	o := DefaultOptions()
	o.Registry.Egress.Proxy = "http://user:s3cret@proxy.example:3128/path?token=t0ken"
	keys := startupKeys(o)
	text := fmt.Sprint(keys...)
	for _, secret := range []string{"s3cret", "t0ken", "user"} {
		if strings.Contains(text, secret) {
			t.Errorf("startup keys contain %q: %s", secret, text)
		}
	}
	if i := slices.Index(keys, any("registryProxy")); i < 0 || keys[i+1] != "http://proxy.example:3128" {
		t.Errorf("registryProxy not logged as scheme://host: %v", keys)
	}
	for i := 0; i < len(keys); i += 2 {
		if _, ok := keys[i].(string); !ok {
			t.Errorf("key %d is %T, want string", i, keys[i])
		}
	}
}

// startWebhookServer runs the webhook server managerOptions builds from o, with a fresh
// certificate for "before.pullguard.test", on a free loopback port. It returns the address and
// the cert dir; the server stops with the test.
func startWebhookServer(t *testing.T, o Options) (addr, certDir string) {
	t.Helper()
	o.CertDir = t.TempDir()
	o.BindAddress = "127.0.0.1"
	o.Port = freePort(t)
	writeServingCert(t, o.CertDir, "before.pullguard.test")

	serveUntilStarted(t, managerOptions(o, k8sruntime.NewScheme(), nil).WebhookServer, 10*time.Second)
	return net.JoinHostPort(o.BindAddress, fmt.Sprint(o.Port)), o.CertDir
}

// serveUntilStarted starts srv for the rest of the test and returns once it serves. It fails
// the test if srv does not start, or does not stop once the test ends, within within.
func serveUntilStarted(t *testing.T, srv webhook.Server, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("webhook server: %v", err)
			}
		case <-time.After(within):
			t.Errorf("webhook server did not stop within %s", within)
		}
	})
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		if srv.StartedChecker()(req) == nil {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("webhook server exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook server not serving within %s", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeServingCert(t *testing.T, dir, host string) {
	t.Helper()
	certPEM, keyPEM := selfSignedCert(t, host)
	// Write both files under temporary names and rename them, as the kubelet's atomic writer
	// does for a Secret volume, so the watcher never sees a certificate with the wrong key.
	for name, data := range map[string][]byte{"tls.key": keyPEM, "tls.crt": certPEM} {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func servedCommonName(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reading the served certificate.
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a running server's loggers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// runningMain is one app.Main running in this process, as the e2e suite and `make demo` run it.
type runningMain struct {
	webhookAddr, healthAddr, metricsAddr string
	stderr                               *syncBuffer
	http                                 *http.Client
	cancel                               context.CancelFunc
	done                                 chan error
}

// startMain runs Main against api on free loopback ports. The test's cleanup stops it and fails
// the test if Main has not returned within 20 s.
func startMain(t *testing.T, api *fakeAPIServer) *runningMain {
	t.Helper()
	certDir := t.TempDir()
	writeServingCert(t, certDir, "before.pullguard.test")
	port := fmt.Sprint(freePort(t))
	m := &runningMain{
		webhookAddr: net.JoinHostPort("127.0.0.1", port),
		healthAddr:  net.JoinHostPort("127.0.0.1", fmt.Sprint(freePort(t))),
		metricsAddr: net.JoinHostPort("127.0.0.1", fmt.Sprint(freePort(t))),
		stderr:      &syncBuffer{},
		http: &http.Client{
			Timeout: 5 * time.Second,
			Transport: &http.Transport{
				Proxy:           nil,
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // self-signed test certificate.
			},
		},
		done: make(chan error, 1),
	}
	args := []string{
		"--kubeconfig", api.kubeconfig(t), "--bind-address", "127.0.0.1", "--port", port, "--cert-dir", certDir,
		"--metrics-bind-address", m.metricsAddr, "--health-probe-bind-address", m.healthAddr,
		"--allow-private-registries", "127.0.0.1", "--graceful-shutdown-timeout", "5s",
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { m.done <- Main(ctx, args, io.Discard, m.stderr) }()
	t.Cleanup(func() {
		if err := m.stop(); err != nil {
			t.Error(err)
		}
		m.http.CloseIdleConnections()
	})
	return m
}

// stop cancels Main's context and returns what Main returned, or an error after 20 s.
func (m *runningMain) stop() error {
	m.cancel()
	select {
	case err, ok := <-m.done:
		if ok {
			close(m.done)
		}
		return err
	case <-time.After(20 * time.Second):
		return errors.New("Main did not return within 20s of cancel")
	}
}

func (m *runningMain) status(method, url string) int { return status(m.http, method, url) }

// metricsRequest is a GET of the secure metrics endpoint with a bearer token.
func (m *runningMain) metricsRequest(token string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, "https://"+m.metricsAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return m.http.Do(req)
}

func (m *runningMain) metricsStatus(token string) int {
	resp, err := m.metricsRequest(token)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// metrics returns the exposition the scraper with token gets.
func (m *runningMain) metrics(t *testing.T, token string) string {
	t.Helper()
	resp, err := m.metricsRequest(token)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics with a scraper token: %d, %v", resp.StatusCode, err)
	}
	return string(b)
}

func (m *runningMain) ready() bool {
	return m.status(http.MethodGet, "http://"+m.healthAddr+"/readyz") == http.StatusOK
}

// TestMainServesUntilCancelled runs Main twice in one process against a fake API server: ready
// once serving with synced caches, /validate served, metrics exposed, the startup line logged
// once, and a clean return when the context is cancelled.
func TestMainServesUntilCancelled(t *testing.T) {
	api := newFakeAPIServer(t, false)
	for run := 1; run <= 2; run++ {
		t.Run(fmt.Sprintf("run %d", run), func(t *testing.T) {
			m := startMain(t, api)
			// The metrics server makes its self-signed certificate as it starts, which may be
			// after the webhook is ready: readiness is about admissions, not metrics.
			waitFor(t, m.done, func() bool { return m.ready() && m.metricsStatus("") != 0 })

			checks := map[string]struct {
				method, url string
				want        int
			}{
				"liveness":                {http.MethodGet, "http://" + m.healthAddr + "/healthz", http.StatusOK},
				"metrics without a token": {http.MethodGet, "https://" + m.metricsAddr + "/metrics", http.StatusUnauthorized},
				"/validate is registered": {http.MethodPost, "https://" + m.webhookAddr + "/validate", http.StatusOK},
				"nothing else served":     {http.MethodPost, "https://" + m.webhookAddr + "/mutate", http.StatusNotFound},
			}
			for name, c := range checks {
				if got := m.status(c.method, c.url); got != c.want {
					t.Errorf("%s: %s %s = %d, want %d", name, c.method, c.url, got, c.want)
				}
			}
			if got := m.metricsStatus(viewerToken); got != http.StatusForbidden {
				t.Errorf("metrics for a user without GET /metrics = %d, want %d", got, http.StatusForbidden)
			}
			metrics := m.metrics(t, scraperToken)
			for _, family := range []string{"pullguard_admission_decisions_total", "controller_runtime_webhook_requests_total"} {
				if !strings.Contains(metrics, family) {
					t.Errorf("/metrics has no %s", family)
				}
			}

			if err := m.stop(); err != nil {
				t.Fatalf("Main = %v after cancel, want nil", err)
			}
			logs := m.stderr.String()
			if n := strings.Count(logs, "Starting pullguard webhook"); n != 1 {
				t.Errorf("startup line logged %d times, want once; logs:\n%s", n, logs)
			}
			if !strings.Contains(logs, `"version":"`+version+`"`) {
				t.Errorf("startup line has no version; logs:\n%s", logs)
			}
			if n := api.unexpected.Load(); n != 0 {
				t.Errorf("the webhook made %d requests the fake API server does not serve", n)
			}
		})
	}
}

// TestMainNotReadyUntilCachesSync holds the API server's lists: the webhook serves TLS but
// /readyz fails until the Namespace and Node informers have synced; /healthz passes throughout.
func TestMainNotReadyUntilCachesSync(t *testing.T) {
	api := newFakeAPIServer(t, true)
	m := startMain(t, api)
	waitFor(t, m.done, func() bool { return m.status(http.MethodGet, "https://"+m.webhookAddr+"/") == http.StatusNotFound })
	for range 3 {
		if m.ready() {
			t.Fatal("/readyz is 200 before the informers synced")
		}
	}
	if got := m.status(http.MethodGet, "http://"+m.healthAddr+"/healthz"); got != http.StatusOK {
		t.Errorf("/healthz = %d while syncing, want 200: liveness must not depend on the API server", got)
	}
	api.releaseLists()
	waitFor(t, m.done, m.ready)
}

// TestMainStopsBeforeCachesSync cancels Main while the informers cannot sync (API server
// hanging, or RBAC refusing the list): Main must still return.
func TestMainStopsBeforeCachesSync(t *testing.T) {
	api := newFakeAPIServer(t, true)
	m := startMain(t, api)
	waitFor(t, m.done, func() bool { return m.status(http.MethodGet, "https://"+m.webhookAddr+"/") == http.StatusNotFound })
	start := time.Now()
	if err := m.stop(); err != nil {
		t.Fatalf("Main = %v, want nil", err)
	}
	t.Logf("Main returned %s after cancel", time.Since(start).Round(time.Millisecond))
}

// waitFor polls cond for up to 30 s, failing early if Main returns.
func waitFor(t *testing.T, done <-chan error, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case err := <-done:
			t.Fatalf("Main returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func status(c *http.Client, method, url string) int {
	req, err := http.NewRequest(method, url, strings.NewReader("{}"))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestRunRejectsInvalidOptions(t *testing.T) {
	o := DefaultOptions()
	o.TLSMinVersion = ""
	if err := Run(t.Context(), o); err == nil || !strings.Contains(err.Error(), "--tls-min-version") {
		t.Fatalf("Run = %v, want an error naming --tls-min-version", err)
	}
}
