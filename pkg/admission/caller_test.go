package admission

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// TestCallerTrust: only a request with a verified client certificate is a trusted caller, and
// the handler tells the engine so (an unauthenticated one gets no tag hint read with the
// namespace's credentials).
func TestCallerTrust(t *testing.T) {
	tests := map[string]struct {
		tls  *tls.ConnectionState
		want bool
	}{
		"plain HTTP":                    {},
		"TLS without a client cert":     {tls: &tls.ConnectionState{}},
		"unverified client certificate": {tls: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{}}}},
		"verified client certificate":   {tls: &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{}}}}, want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/validate", nil)
			r.TLS = tc.tls
			ctx := withCaller(testContext(t), r)
			if got := authenticatedCaller(ctx); got != tc.want {
				t.Errorf("authenticated = %v, want %v", got, tc.want)
			}
			e := newEnv(t, testConfig(), nil)
			e.h.Handle(ctx, review(t, admissionv1.Create, pod(), nil))
			reqs := e.checker.requests()
			if len(reqs) != 1 || reqs[0].TrustedCaller != tc.want {
				t.Errorf("engine requests %+v; want one with TrustedCaller %v", reqs, tc.want)
			}
		})
	}
	if authenticatedCaller(context.Background()) {
		t.Error("a context without a request is trusted")
	}
}
