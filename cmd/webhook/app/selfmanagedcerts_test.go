package app

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestNameScopedListsAndWatches: the rotator's list and watch requests on its Secret's and its
// webhook configuration's collections carry metadata.name, so that RBAC resourceNames authorize
// them; every other request goes out as it came.
func TestNameScopedListsAndWatches(t *testing.T) {
	names := SelfManagedCerts{SecretNamespace: "guard", SecretName: "guard-tls", WebhookConfiguration: "guard"}.watchedNames()
	tests := map[string]struct {
		method, url string
		want        string // fieldSelector sent; "" for none
	}{
		"list of the Secret's namespace":  {http.MethodGet, "/api/v1/namespaces/guard/secrets?limit=500&resourceVersion=0", "metadata.name=guard-tls"},
		"watch of the Secret's namespace": {http.MethodGet, "/api/v1/namespaces/guard/secrets?watch=true&resourceVersion=7", "metadata.name=guard-tls"},
		"webhook configurations":          {http.MethodGet, "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations?watch=true", "metadata.name=guard"},
		"behind an API proxy's prefix":    {http.MethodGet, "/k8s/clusters/c-1/api/v1/namespaces/guard/secrets", "metadata.name=guard-tls"},
		"a selector given is kept":        {http.MethodGet, "/api/v1/namespaces/guard/secrets?fieldSelector=type%3DOpaque", "metadata.name=guard-tls,type=Opaque"},
		"another namespace's secrets":     {http.MethodGet, "/api/v1/namespaces/other/secrets", ""},
		"a namespace ending like it":      {http.MethodGet, "/api/v1/namespaces/xguard/secrets", ""},
		"the Secret by name":              {http.MethodGet, "/api/v1/namespaces/guard/secrets/guard-tls", ""},
		"an update":                       {http.MethodPut, "/api/v1/namespaces/guard/secrets", ""},
		"mutating webhook configurations": {http.MethodGet, "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got *url.URL
			next := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				got = req.URL
				return httptest.NewRecorder().Result(), nil
			})
			req := httptest.NewRequest(tc.method, "https://api.example"+tc.url, nil)
			before := req.URL.String()
			if _, err := (nameScoped{next: next, names: names}).RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			if s := got.Query().Get("fieldSelector"); s != tc.want && !(tc.want == "" && s == req.URL.Query().Get("fieldSelector")) {
				t.Errorf("fieldSelector %q, want %q", s, tc.want)
			}
			if req.URL.String() != before {
				t.Errorf("the caller's request was changed to %s", req.URL)
			}
			for k, v := range req.URL.Query() {
				if k != "fieldSelector" && got.Query().Get(k) != v[0] {
					t.Errorf("query %s=%q lost (%s)", k, v[0], got)
				}
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestSelfManagedCertPending: until the rotator is ready the webhook is not ready and refuses
// handshakes with a reason, instead of failing to start on an empty cert dir.
func TestSelfManagedCertPending(t *testing.T) {
	opts := DefaultOptions()
	opts.CertDir = t.TempDir()
	s := newSelfManagedCerts(opts)
	var cfg tls.Config
	s.tlsOption(&cfg)
	if _, err := cfg.GetCertificate(&tls.ClientHelloInfo{}); !errors.Is(err, errCertificatePending) {
		t.Errorf("handshake before the rotator is ready: %v, want %v", err, errCertificatePending)
	}
	if err := s.readyCheck(nil); !errors.Is(err, errCertificatePending) {
		t.Errorf("readiness before the rotator is ready: %v, want %v", err, errCertificatePending)
	}
	close(s.ready)
	if err := s.readyCheck(nil); err != nil {
		t.Errorf("readiness once the rotator is ready: %v", err)
	}
}
