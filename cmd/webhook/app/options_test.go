package app

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	certutil "k8s.io/client-go/util/cert"

	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/config"
	"github.com/pullguard/pullguard/pkg/registry"
)

func TestDefaultOptionsAreValid(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("DefaultOptions().Validate() = %v", err)
	}
	got, err := parseArgs(nil)
	if err != nil {
		t.Fatalf("parseArgs(nil) = %v", err)
	}
	if !reflect.DeepEqual(got, DefaultOptions()) {
		t.Errorf("parseArgs(nil) differs from DefaultOptions():\n got %+v\nwant %+v", got, DefaultOptions())
	}
}

func TestDocumentedDefaults(t *testing.T) {
	o := DefaultOptions()
	tests := map[string]struct{ got, want any }{
		"port":           {o.Port, 9443},
		"cert dir":       {o.CertDir, "/tmp/k8s-webhook-server/serving-certs"},
		"tls":            {o.TLSMinVersion, "1.2"},
		"http2 off":      {o.EnableHTTP2, false},
		"metrics":        {o.MetricsBindAddress, ":8080"},
		"health":         {o.HealthProbeBindAddress, ":8081"},
		"qps":            {o.KubeAPIQPS, float32(50)},
		"burst":          {o.KubeAPIBurst, 100},
		"mode":           {o.Admission.DefaultMode, admission.ModeWarn},
		"log format":     {o.LogFormat, "json"},
		"no private":     {len(o.Registry.Egress.AllowPrivate), 0},
		"registry dial":  {o.Registry.Egress.DialTimeout, 2 * time.Second},
		"deny unverif.":  {o.Admission.DenyUnverifiable, false},
		"stale on error": {o.Registry.StaleOnError, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestParseArgsSetsOptions(t *testing.T) {
	ca := writeCAFile(t)
	args := []string{
		"--kubeconfig", "/k/config",
		"--port", "10250", "--bind-address", "127.0.0.1", "--cert-dir", "/certs",
		"--tls-min-version", "1.3", "--enable-http2",
		"--metrics-bind-address", "0", "--health-probe-bind-address", "127.0.0.1:9000",
		"--kube-api-qps", "20", "--kube-api-burst", "40", "--graceful-shutdown-timeout", "5s",
		"--log-level", "3", "--log-format", "console",
		"--default-mode", "enforce", "--deny-unverifiable",
		"--exempt-namespaces", "kube-system,ops", "--exempt-images", "registry.k8s.io/*",
		"--exempt-users", "system:admin", "--exempt-groups", "system:masters", "--autoscaled-platforms", "linux/arm64,linux/arm/v7",
		"--max-budget", "5s", "--timeout-margin", "500ms", "--secret-cache-ttl", "0s",
		"--max-request-bytes", "1048576", "--max-concurrent-images", "4",
		"--allow-private-registries", "127.0.0.1,10.0.0.0/8", "--allow-private-registries", "harbor.svc:5000",
		"--insecure-registries", "127.0.0.1:5000", "--registry-ca-file", ca,
		"--registry-proxy", "http://proxy.example:3128", "--node-credential-registries", "*.dkr.ecr.*.amazonaws.com",
		"--single-platform-check=false", "--single-platform-check-skip", "quay.io,docker.io",
		"--registry-mirror", "docker.io=mirror.example.com", "--registry-mirror", "docker.io=cache.internal:5000", "--registry-mirror", "quay.io=quay-mirror.internal",
		"--registry-timeout", "1500ms", "--max-manifest-bytes", "1000",
		"--registry-max-retries", "0", "--registry-retry-backoff", "50ms", "--registry-max-concurrent-requests", "8",
		"--cache-size", "10", "--cache-bytes", "2097152", "--cache-index-size", "5", "--cache-index-bytes", "3145728", "--cache-positive-ttl", "1m", "--cache-digest-ttl", "2h",
		"--cache-negative-ttl", "5s", "--cache-unverifiable-ttl", "1s", "--cache-stale-on-error=false", "--cache-stale-ttl", "10m",
		"--max-index-children", "50", "--max-listed-platforms", "4", "--max-listed-keys", "5", "--max-message-runes", "512",
		"--max-notes", "6", "--max-requests-per-host", "3", "--max-requests-per-domain", "5", "--registry-exchange-timeout", "2s",
		"--max-images-per-object", "32", "--max-pull-secrets-per-object", "7", "--max-concurrent-secret-reads", "2",
		"--self-managed-certs", "--cert-secret-namespace", "guard", "--cert-secret-name", "guard-tls",
		"--cert-webhook-configuration", "guard", "--cert-dns-names", "guard.guard.svc,guard.guard.svc.cluster.local",
		"--cert-ca-duration", "1000h", "--cert-duration", "100h", "--cert-renew-before", "10h", "--cert-check-interval", "5m",
	}
	o, err := parseArgs(args)
	if err != nil {
		t.Fatalf("parseArgs: %v", err)
	}
	r, a := o.Registry, o.Admission
	tests := map[string]struct{ got, want any }{
		"kubeconfig":        {o.Kubeconfig, "/k/config"},
		"port":              {o.Port, 10250},
		"bind":              {o.BindAddress, "127.0.0.1"},
		"cert dir":          {o.CertDir, "/certs"},
		"tls":               {o.TLSMinVersion, "1.3"},
		"http2":             {o.EnableHTTP2, true},
		"metrics":           {o.MetricsBindAddress, "0"},
		"health":            {o.HealthProbeBindAddress, "127.0.0.1:9000"},
		"qps":               {o.KubeAPIQPS, float32(20)},
		"burst":             {o.KubeAPIBurst, 40},
		"shutdown":          {o.GracefulShutdownTimeout, 5 * time.Second},
		"log level":         {o.LogLevel, "3"},
		"log format":        {o.LogFormat, "console"},
		"mode":              {a.DefaultMode, admission.ModeEnforce},
		"deny unverifiable": {a.DenyUnverifiable, true},
		"exempt ns":         {strings.Join(a.ExemptNamespaces, ","), "kube-system,ops"},
		"exempt images":     {strings.Join(a.ExemptImages, ","), "registry.k8s.io/*"},
		"exempt users":      {strings.Join(a.ExemptUsers, ","), "system:admin"},
		"exempt groups":     {strings.Join(a.ExemptGroups, ","), "system:masters"},
		"autoscaled":        {strings.Join(a.AutoscaledPlatforms, ","), "linux/arm64,linux/arm/v7"},
		"budget":            {a.MaxBudget, 5 * time.Second},
		"margin":            {a.TimeoutMargin, 500 * time.Millisecond},
		"secret ttl":        {a.SecretCacheTTL, time.Duration(0)},
		"request bytes":     {a.MaxRequestBytes, int64(1 << 20)},
		"images":            {a.MaxConcurrentImages, 4},
		"private (repeated flag appends)": {
			strings.Join(r.Egress.AllowPrivate, ","), "127.0.0.1,10.0.0.0/8,harbor.svc:5000",
		},
		"insecure":       {strings.Join(r.Egress.InsecureRegistries, ","), "127.0.0.1:5000"},
		"ca":             {r.Egress.CAFile, ca},
		"proxy":          {r.Egress.Proxy, "http://proxy.example:3128"},
		"node creds":     {strings.Join(r.NodeCredentialRegistries, ","), "*.dkr.ecr.*.amazonaws.com"},
		"platform check": {r.SinglePlatformCheck, false},
		"platform skip":  {strings.Join(r.SinglePlatformCheckSkip, ","), "quay.io,docker.io"},
		"mirrors": {fmt.Sprint(r.Mirrors), fmt.Sprint(map[string][]registry.Mirror{
			"docker.io": {{Host: "mirror.example.com"}, {Host: "cache.internal:5000"}}, "quay.io": {{Host: "quay-mirror.internal"}}})},
		"dial timeout":      {r.Egress.DialTimeout, 1500 * time.Millisecond},
		"tls timeout":       {r.Egress.TLSHandshakeTimeout, 1500 * time.Millisecond},
		"header timeout":    {r.Egress.ResponseHeaderTimeout, 1500 * time.Millisecond},
		"manifest bytes":    {r.Egress.MaxManifestBytes, int64(1000)},
		"retries":           {r.MaxRetries, 0},
		"backoff":           {r.RetryBackoff, 50 * time.Millisecond},
		"concurrent":        {r.MaxConcurrentRequests, 8},
		"cache size":        {r.CacheSize, 10},
		"cache bytes":       {r.CacheBytes, int64(2 << 20)},
		"index cache size":  {r.IndexCacheSize, 5},
		"index cache bytes": {r.IndexCacheBytes, int64(3 << 20)},
		"positive ttl":      {r.PositiveTTL, time.Minute},
		"digest ttl":        {r.DigestTTL, 2 * time.Hour},
		"negative ttl":      {r.NegativeTTL, 5 * time.Second},
		"unverifiable ttl":  {r.UnverifiableTTL, time.Second},
		"stale on error":    {r.StaleOnError, false},
		"stale ttl":         {r.StaleTTL, 10 * time.Minute},
		"registry limits": {r.Limits, registry.Limits{MaxIndexChildren: 50, MaxListedPlatforms: 4, MaxListedKeys: 5,
			MaxMessageRunes: 512, MaxNotes: 6, MaxRequestsPerHost: 3, MaxRequestsPerDomain: 5, ExchangeTimeout: 2 * time.Second}},
		"admission limits": {a.Limits, admission.Limits{MaxImagesPerObject: 32, MaxPullSecretsPerObject: 7, MaxConcurrentSecretReads: 2}},
		"self-managed certificates": {o.Certificates, SelfManagedCerts{
			Enabled: true, SecretNamespace: "guard", SecretName: "guard-tls", WebhookConfiguration: "guard",
			DNSNames:   []string{"guard.guard.svc", "guard.guard.svc.cluster.local"},
			CADuration: 1000 * time.Hour, Duration: 100 * time.Hour, RenewBefore: 10 * time.Hour, CheckInterval: 5 * time.Minute,
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestParseArgsRejectsInvalid(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not-a-ca.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args []string
		flag string // the error must name it
	}{
		"unknown flag":                  {[]string{"--no-such-flag"}, "--no-such-flag"},
		"stray argument":                {[]string{"serve"}, "serve"},
		"port 0":                        {[]string{"--port", "0"}, "--port"},
		"port too big":                  {[]string{"--port", "65536"}, "--port"},
		"port not a number":             {[]string{"--port", "https"}, "--port"},
		"bind address":                  {[]string{"--bind-address", "not an address!"}, "--bind-address"},
		"empty cert dir":                {[]string{"--cert-dir", ""}, "--cert-dir"},
		"tls 1.1":                       {[]string{"--tls-min-version", "1.1"}, "--tls-min-version"},
		"tls garbage":                   {[]string{"--tls-min-version", "VersionTLS13"}, "--tls-min-version"},
		"metrics without port":          {[]string{"--metrics-bind-address", "localhost"}, "--metrics-bind-address"},
		"metrics port range":            {[]string{"--metrics-bind-address", ":70000"}, "--metrics-bind-address"},
		"health without port":           {[]string{"--health-probe-bind-address", "8081"}, "--health-probe-bind-address"},
		"metrics and health collide":    {[]string{"--metrics-bind-address", ":9000", "--health-probe-bind-address", "127.0.0.1:9000"}, "--health-probe-bind-address"},
		"webhook and metrics collide":   {[]string{"--port", "8080"}, "--metrics-bind-address"},
		"qps zero":                      {[]string{"--kube-api-qps", "0"}, "--kube-api-qps"},
		"qps negative":                  {[]string{"--kube-api-qps", "-1"}, "--kube-api-qps"},
		"burst zero":                    {[]string{"--kube-api-burst", "0"}, "--kube-api-burst"},
		"shutdown zero":                 {[]string{"--graceful-shutdown-timeout", "0s"}, "--graceful-shutdown-timeout"},
		"log level":                     {[]string{"--log-level", "verbose"}, "--log-level"},
		"log level too high":            {[]string{"--log-level", "11"}, "--log-level"},
		"log format":                    {[]string{"--log-format", "text"}, "--log-format"},
		"mode":                          {[]string{"--default-mode", "block"}, "--default-mode"},
		"empty exempt namespace":        {[]string{"--exempt-namespaces", "a,,b"}, "--exempt-namespaces"},
		"bad exempt image pattern":      {[]string{"--exempt-images", "[nginx"}, "--exempt-images"},
		"empty exempt user":             {[]string{"--exempt-users", ","}, "--exempt-users"},
		"empty exempt group":            {[]string{"--exempt-groups", ","}, "--exempt-groups"},
		"autoscaled platform no OS":     {[]string{"--autoscaled-platforms", "arm64"}, "--autoscaled-platforms"},
		"budget zero":                   {[]string{"--max-budget", "0s"}, "--max-budget"},
		"budget 30s":                    {[]string{"--max-budget", "30s"}, "--max-budget"},
		"margin negative":               {[]string{"--timeout-margin", "-1s"}, "--timeout-margin"},
		"margin not below budget":       {[]string{"--max-budget", "3s", "--timeout-margin", "3s"}, "--timeout-margin"},
		"secret ttl negative":           {[]string{"--secret-cache-ttl", "-1s"}, "--secret-cache-ttl"},
		"request bytes zero":            {[]string{"--max-request-bytes", "0"}, "--max-request-bytes"},
		"request bytes huge":            {[]string{"--max-request-bytes", "1073741824"}, "--max-request-bytes"},
		"images zero":                   {[]string{"--max-concurrent-images", "0"}, "--max-concurrent-images"},
		"private not host or cidr":      {[]string{"--allow-private-registries", "http://harbor"}, "--allow-private-registries"},
		"insecure not a host":           {[]string{"--insecure-registries", "10.0.0.0/8"}, "--insecure-registries"},
		"ca file missing":               {[]string{"--registry-ca-file", filepath.Join(dir, "missing.pem")}, "--registry-ca-file"},
		"ca file not PEM":               {[]string{"--registry-ca-file", notPEM}, "--registry-ca-file"},
		"ca file endless":               {[]string{"--registry-ca-file", "/dev/zero"}, "--registry-ca-file"},
		"proxy without scheme":          {[]string{"--registry-proxy", "proxy:3128"}, "--registry-proxy"},
		"proxy socks":                   {[]string{"--registry-proxy", "socks5://proxy:1080"}, "--registry-proxy"},
		"empty node credential":         {[]string{"--node-credential-registries", ","}, "--node-credential-registries"},
		"empty platform check skip":     {[]string{"--single-platform-check-skip", "a,,b"}, "--single-platform-check-skip"},
		"mirror without a host":         {[]string{"--registry-mirror", "docker.io"}, "--registry-mirror"},
		"mirror with a scheme":          {[]string{"--registry-mirror", "docker.io=https://mirror.example.com"}, "--registry-mirror"},
		"registry timeout zero":         {[]string{"--registry-timeout", "0s"}, "--registry-timeout"},
		"registry timeout not a dur":    {[]string{"--registry-timeout", "2"}, "--registry-timeout"},
		"registry timeout > budget":     {[]string{"--max-budget", "2s", "--timeout-margin", "1s", "--registry-timeout", "2s"}, "--registry-timeout"},
		"manifest bytes zero":           {[]string{"--max-manifest-bytes", "0"}, "--max-manifest-bytes"},
		"manifest bytes huge":           {[]string{"--max-manifest-bytes", "209715200"}, "--max-manifest-bytes"},
		"retries":                       {[]string{"--registry-max-retries", "4"}, "--registry-max-retries"},
		"backoff negative":              {[]string{"--registry-retry-backoff", "-1ms"}, "--registry-retry-backoff"},
		"backoff above budget":          {[]string{"--registry-retry-backoff", "9s"}, "--registry-retry-backoff"},
		"concurrent requests":           {[]string{"--registry-max-concurrent-requests", "0"}, "--registry-max-concurrent-requests"},
		"cache size":                    {[]string{"--cache-size", "0"}, "--cache-size"},
		"index cache size":              {[]string{"--cache-index-size", "0"}, "--cache-index-size"},
		"cache bytes too few":           {[]string{"--cache-bytes", "1000"}, "--cache-bytes"},
		"index cache bytes too few":     {[]string{"--cache-index-bytes", "1000"}, "--cache-index-bytes"},
		"positive ttl":                  {[]string{"--cache-positive-ttl", "-1s"}, "--cache-positive-ttl"},
		"digest ttl":                    {[]string{"--cache-digest-ttl", "-1s"}, "--cache-digest-ttl"},
		"negative ttl":                  {[]string{"--cache-negative-ttl", "-1s"}, "--cache-negative-ttl"},
		"unverifiable ttl":              {[]string{"--cache-unverifiable-ttl", "-1s"}, "--cache-unverifiable-ttl"},
		"stale ttl":                     {[]string{"--cache-stale-ttl", "-1s"}, "--cache-stale-ttl"},
		"missing config file":           {[]string{"--config", filepath.Join(dir, "missing.yaml")}, "--config"},
		"index children zero":           {[]string{"--max-index-children", "0"}, "--max-index-children"},
		"message runes too few":         {[]string{"--max-message-runes", "100"}, "--max-message-runes"},
		"requests per host zero":        {[]string{"--max-requests-per-host", "0"}, "--max-requests-per-host"},
		"requests per domain zero":      {[]string{"--max-requests-per-domain", "0"}, "--max-requests-per-domain"},
		"more per host than per domain": {[]string{"--max-requests-per-host", "20", "--max-requests-per-domain", "10"}, "--max-requests-per-host"},
		"exchange timeout zero":         {[]string{"--registry-exchange-timeout", "0s"}, "--registry-exchange-timeout"},
		"images per object zero":        {[]string{"--max-images-per-object", "0"}, "--max-images-per-object"},
		"secret reads too many":         {[]string{"--max-concurrent-secret-reads", "65"}, "--max-concurrent-secret-reads"},
		"cert secret namespace":         {[]string{"--cert-secret-namespace", "a.b"}, "--cert-secret-namespace"},
		"cert secret name":              {[]string{"--cert-secret-name", "TLS"}, "--cert-secret-name"},
		"cert webhook configuration":    {[]string{"--cert-webhook-configuration", ""}, "--cert-webhook-configuration"},
		"cert without DNS names":        {[]string{"--cert-dns-names", ""}, "--cert-dns-names"},
		"cert DNS name":                 {[]string{"--cert-dns-names", "svc,under_score"}, "--cert-dns-names"},
		"cert duration zero":            {[]string{"--cert-duration", "0s"}, "--cert-duration"},
		"cert renew after expiry":       {[]string{"--cert-duration", "10h", "--cert-renew-before", "10h"}, "--cert-renew-before"},
		"cert outlives its CA":          {[]string{"--cert-ca-duration", "100h", "--cert-duration", "200h"}, "--cert-duration"},
		"cert checked too rarely":       {[]string{"--cert-renew-before", "1h", "--cert-check-interval", "1h"}, "--cert-check-interval"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseArgs(tc.args)
			if err == nil {
				t.Fatalf("parseArgs(%q) = nil error", tc.args)
			}
			if !strings.Contains(err.Error(), tc.flag) {
				t.Errorf("error %q does not name %s", err, tc.flag)
			}
		})
	}
}

func TestParseArgsProxyErrorHidesCredentials(t *testing.T) {
	_, err := parseArgs([]string{"--registry-proxy", "ftp://user:s3cret@proxy:21"})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error %v: want an error that does not echo the proxy credentials", err)
	}
}

func TestParseArgsHelpAndVersion(t *testing.T) {
	tests := map[string]struct {
		args []string
		want error
	}{
		"--help":                 {[]string{"--help"}, pflag.ErrHelp},
		"-h":                     {[]string{"-h"}, pflag.ErrHelp},
		"--version":              {[]string{"--version"}, errVersion},
		"--version skips checks": {[]string{"--port", "0", "--version"}, errVersion},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := parseArgs(tc.args); !errors.Is(err, tc.want) {
				t.Errorf("parseArgs(%q) = %v, want %v", tc.args, err, tc.want)
			}
		})
	}
}

const fullConfig = `apiVersion: config.pullguard.io/v1alpha1
kind: WebhookConfiguration
kubeconfig: /file/kubeconfig
port: 8443
bindAddress: 127.0.0.1
certDir: /file/certs
tlsMinVersion: "1.3"
enableHTTP2: true
metricsBindAddress: "0"
healthProbeBindAddress: 127.0.0.1:9001
kubeAPIQPS: 30
kubeAPIBurst: 60
gracefulShutdownTimeout: 12s
certificates:
  selfManaged: true
  secretNamespace: guard
  secretName: guard-tls
  webhookConfiguration: guard
  dnsNames: [guard.guard.svc]
  duration: 720h
  renewBefore: 48h
  checkInterval: 30m
logging:
  level: debug
  format: console
admission:
  defaultMode: enforce
  denyUnverifiable: true
  exemptNamespaces: [ops]
  exemptImages: ["registry.k8s.io/*"]
  exemptUsers: [alice]
  exemptGroups: [admins]
  autoscaledPlatforms: [linux/arm64]
  maxBudget: 6s
  timeoutMargin: 750ms
  secretCacheTTL: 20s
  maxRequestBytes: 2097152
  maxConcurrentImages: 8
registry:
  allowPrivateRegistries: [10.0.0.0/8, harbor.svc]
  insecureRegistries: [harbor.svc]
  proxy: http://proxy.example:3128
  nodeCredentialRegistries: ["*.azurecr.io"]
  singlePlatformCheck: false
  singlePlatformCheckSkip: [quay.io]
  mirrors:
    docker.io:
      - host: mirror.example.com
      - host: cache.internal:5000
        pullOnly: true
  timeout: 1s
  maxManifestBytes: 2048
  maxRetries: 2
  retryBackoff: 200ms
  maxConcurrentRequests: 16
  cache:
    size: 100
    bytes: 4194304
    indexSize: 50
    indexBytes: 2097152
    positiveTTL: 2m
    digestTTL: 1h
    negativeTTL: 10s
    unverifiableTTL: 2s
    staleOnError: false
    staleTTL: 30m
`

func TestConfigFileLoaded(t *testing.T) {
	o, err := parseArgs([]string{"--config", writeFile(t, fullConfig)})
	if err != nil {
		t.Fatalf("parseArgs: %v", err)
	}
	r, a := o.Registry, o.Admission
	tests := map[string]struct{ got, want any }{
		"kubeconfig": {o.Kubeconfig, "/file/kubeconfig"},
		"port":       {o.Port, 8443},
		"bind":       {o.BindAddress, "127.0.0.1"},
		"cert dir":   {o.CertDir, "/file/certs"},
		"tls":        {o.TLSMinVersion, "1.3"},
		"http2":      {o.EnableHTTP2, true},
		"metrics":    {o.MetricsBindAddress, "0"},
		"health":     {o.HealthProbeBindAddress, "127.0.0.1:9001"},
		"qps":        {o.KubeAPIQPS, float32(30)},
		"burst":      {o.KubeAPIBurst, 60},
		"shutdown":   {o.GracefulShutdownTimeout, 12 * time.Second},
		"certificates": {o.Certificates, SelfManagedCerts{
			Enabled: true, SecretNamespace: "guard", SecretName: "guard-tls", WebhookConfiguration: "guard",
			DNSNames: []string{"guard.guard.svc"}, CADuration: 87600 * time.Hour, Duration: 720 * time.Hour,
			RenewBefore: 48 * time.Hour, CheckInterval: 30 * time.Minute,
		}},
		"log level":      {o.LogLevel, "debug"},
		"log format":     {o.LogFormat, "console"},
		"mode":           {a.DefaultMode, admission.ModeEnforce},
		"deny":           {a.DenyUnverifiable, true},
		"exempt ns":      {a.ExemptNamespaces, []string{"ops"}},
		"exempt images":  {a.ExemptImages, []string{"registry.k8s.io/*"}},
		"exempt users":   {a.ExemptUsers, []string{"alice"}},
		"exempt groups":  {a.ExemptGroups, []string{"admins"}},
		"autoscaled":     {a.AutoscaledPlatforms, []string{"linux/arm64"}},
		"budget":         {a.MaxBudget, 6 * time.Second},
		"margin":         {a.TimeoutMargin, 750 * time.Millisecond},
		"secret ttl":     {a.SecretCacheTTL, 20 * time.Second},
		"request bytes":  {a.MaxRequestBytes, int64(2 << 20)},
		"images":         {a.MaxConcurrentImages, 8},
		"private":        {r.Egress.AllowPrivate, []string{"10.0.0.0/8", "harbor.svc"}},
		"insecure":       {r.Egress.InsecureRegistries, []string{"harbor.svc"}},
		"proxy":          {r.Egress.Proxy, "http://proxy.example:3128"},
		"node creds":     {r.NodeCredentialRegistries, []string{"*.azurecr.io"}},
		"platform check": {r.SinglePlatformCheck, false},
		"platform skip":  {r.SinglePlatformCheckSkip, []string{"quay.io"}},
		"mirrors": {r.Mirrors, map[string][]registry.Mirror{
			"docker.io": {{Host: "mirror.example.com"}, {Host: "cache.internal:5000", PullOnly: true}}}},
		"dial timeout":      {r.Egress.DialTimeout, time.Second},
		"tls timeout":       {r.Egress.TLSHandshakeTimeout, time.Second},
		"header timeout":    {r.Egress.ResponseHeaderTimeout, time.Second},
		"manifest bytes":    {r.Egress.MaxManifestBytes, int64(2048)},
		"retries":           {r.MaxRetries, 2},
		"backoff":           {r.RetryBackoff, 200 * time.Millisecond},
		"concurrent":        {r.MaxConcurrentRequests, 16},
		"cache size":        {r.CacheSize, 100},
		"cache bytes":       {r.CacheBytes, int64(4 << 20)},
		"index cache size":  {r.IndexCacheSize, 50},
		"index cache bytes": {r.IndexCacheBytes, int64(2 << 20)},
		"positive ttl":      {r.PositiveTTL, 2 * time.Minute},
		"digest ttl":        {r.DigestTTL, time.Hour},
		"negative ttl":      {r.NegativeTTL, 10 * time.Second},
		"unverifiable ttl":  {r.UnverifiableTTL, 2 * time.Second},
		"stale on error":    {r.StaleOnError, false},
		"stale ttl":         {r.StaleTTL, 30 * time.Minute},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestFlagsWinOverConfigFile(t *testing.T) {
	file := writeFile(t, fullConfig)
	o, err := parseArgs([]string{
		"--port", "9999", "--config", file, "--default-mode", "audit",
		"--allow-private-registries", "127.0.0.1", "--registry-timeout", "500ms", "--enable-http2=false",
		"--registry-mirror", "quay.io=quay-mirror.internal",
	})
	if err != nil {
		t.Fatalf("parseArgs: %v", err)
	}
	tests := map[string]struct{ got, want any }{
		"flag wins: port":                  {o.Port, 9999},
		"flag wins: mode":                  {o.Admission.DefaultMode, admission.ModeAudit},
		"flag wins: bool set false":        {o.EnableHTTP2, false},
		"flag replaces the file list":      {o.Registry.Egress.AllowPrivate, []string{"127.0.0.1"}},
		"flag replaces the file's mirrors": {o.Registry.Mirrors, map[string][]registry.Mirror{"quay.io": {{Host: "quay-mirror.internal"}}}},
		"flag wins: all 3 timeouts": {
			[]time.Duration{o.Registry.Egress.DialTimeout, o.Registry.Egress.TLSHandshakeTimeout, o.Registry.Egress.ResponseHeaderTimeout},
			[]time.Duration{500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond},
		},
		"file kept: bind address": {o.BindAddress, "127.0.0.1"},
		"file kept: budget":       {o.Admission.MaxBudget, 6 * time.Second},
		"file kept: insecure":     {o.Registry.Egress.InsecureRegistries, []string{"harbor.svc"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestConfigFileEmptyListClearsDefault(t *testing.T) {
	o := DefaultOptions()
	o.Admission.ExemptNamespaces = []string{"from-default"}
	if err := config.LoadFile(writeFile(t, header+"admission:\n  exemptNamespaces: []\n"), configKind, fileFlagSet(&o)); err != nil {
		t.Fatal(err)
	}
	if o.Admission.ExemptNamespaces == nil || len(o.Admission.ExemptNamespaces) != 0 {
		t.Errorf("exemptNamespaces = %#v, want an empty list", o.Admission.ExemptNamespaces)
	}
}

const header = "apiVersion: config.pullguard.io/v1alpha1\nkind: WebhookConfiguration\n"

func TestConfigFileRejected(t *testing.T) {
	tests := map[string]struct {
		content string
		want    string // in the error
	}{
		"unknown top-level field":    {header + "prot: 9443\n", `unknown field "prot"`},
		"unknown nested field":       {header + "registry:\n  cache:\n    sise: 1\n", `unknown field "registry.cache.sise"`},
		"field with the wrong case":  {header + "Port: 9443\n", `unknown field "Port"`},
		"duplicate field":            {header + "port: 1\nport: 2\n", "port"},
		"wrong type":                 {header + "port: https\n", "port"},
		"duration without unit":      {header + "admission:\n  maxBudget: 5\n", "maxBudget"},
		"wrong apiVersion":           {"apiVersion: config.pullguard.io/v1\nkind: WebhookConfiguration\n", `apiVersion "config.pullguard.io/v1" is not supported`},
		"wrong kind":                 {"apiVersion: config.pullguard.io/v1alpha1\nkind: Config\n", `kind "Config" is not supported`},
		"no apiVersion":              {"kind: WebhookConfiguration\nport: 1\n", "apiVersion and kind are required"},
		"empty file":                 {"", "apiVersion and kind are required"},
		"not yaml":                   {"{{{", "decoding"},
		"too large":                  {header + "# " + strings.Repeat("x", config.MaxFileBytes) + "\n", "larger than"},
		"invalid value is validated": {header + "admission:\n  defaultMode: block\n", "--default-mode"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseArgs([]string{"--config", writeFile(t, tc.content)})
			if err == nil {
				t.Fatal("parseArgs = nil error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestParseLogLevel(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    zapcore.Level
		wantErr bool
	}{
		"error":    {in: "error", want: zapcore.ErrorLevel},
		"info":     {in: "info", want: zapcore.InfoLevel},
		"debug":    {in: "debug", want: zapcore.DebugLevel},
		"V0":       {in: "0", want: zapcore.InfoLevel},
		"V1":       {in: "1", want: zapcore.DebugLevel},
		"V5":       {in: "5", want: zapcore.Level(-5)},
		"negative": {in: "-1", wantErr: true},
		"too high": {in: "11", wantErr: true},
		"unknown":  {in: "trace", wantErr: true},
		"empty":    {in: "", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseLogLevel(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseLogLevel(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("parseLogLevel(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeCAFile writes a self-signed certificate as a PEM bundle.
func writeCAFile(t *testing.T) string {
	t.Helper()
	certPEM, _ := selfSignedCert(t, "registry.example")
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// selfSignedCert returns a certificate and key for host and 127.0.0.1.
func selfSignedCert(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(host, []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

// TestNodeCredentialRegistriesDefault: the cloud registries are node-credentialed unless the
// operator clears the list with an empty value.
func TestNodeCredentialRegistriesDefault(t *testing.T) {
	tests := map[string]struct {
		args []string
		want []string
	}{
		"default":        {args: nil, want: registry.CloudProviderRegistries},
		"cleared":        {args: []string{"--node-credential-registries="}, want: []string{}},
		"own registries": {args: []string{"--node-credential-registries=registry.corp.example"}, want: []string{"registry.corp.example"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, err := parseArgs(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.Registry.NodeCredentialRegistries, tc.want) {
				t.Errorf("node credential registries %q, want %q", o.Registry.NodeCredentialRegistries, tc.want)
			}
		})
	}
}
