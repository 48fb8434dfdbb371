package installcheck

import (
	"slices"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// servingCertificate returns the Certificate that writes the Secret the Deployment mounts.
func servingCertificate(t testing.TB, o Objects, in Install) *cmv1.Certificate {
	t.Helper()
	for _, cert := range All[*cmv1.Certificate](o) {
		if cert.Spec.SecretName == in.Secret && cert.Namespace == in.Namespace {
			return cert
		}
	}
	t.Fatalf("no Certificate writes Secret %s/%s", in.Namespace, in.Secret)
	return nil
}

// issuer resolves a Certificate's issuerRef; only namespaced Issuers are shipped.
func issuer(t testing.TB, o Objects, cert *cmv1.Certificate) *cmv1.Issuer {
	t.Helper()
	ref := cert.Spec.IssuerRef
	if ref.Kind != cmv1.IssuerKind || ref.Group != "cert-manager.io" {
		t.Fatalf("Certificate %s: issuerRef %+v, want a cert-manager.io Issuer", cert.Name, ref)
	}
	return Get[*cmv1.Issuer](t, o, cmv1.IssuerKind, cert.Namespace, ref.Name)
}

func duration(d *metav1.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.Duration
}

// checkCertificates: with cert-manager, a selfSigned Issuer, a CA Certificate, a CA Issuer and
// the serving Certificate, its CA injected into the webhook configuration; without, nothing of
// cert-manager's at all.
func checkCertificates(t *testing.T, o Objects, in Install) {
	vwc := Get[*admissionregistrationv1.ValidatingWebhookConfiguration](t, o, "ValidatingWebhookConfiguration", "", in.WebhookConfiguration)
	inject, ok := vwc.Annotations[cmv1.WantInjectAnnotation]
	if !in.CertManager {
		if n := len(All[*cmv1.Certificate](o)) + len(All[*cmv1.Issuer](o)); ok || n > 0 {
			t.Errorf("%d cert-manager objects and %s=%q: this install must work without cert-manager (the cainjector is absent and the annotation misleads)",
				n, cmv1.WantInjectAnnotation, inject)
		}
		return
	}
	serving := servingCertificate(t, o, in)
	if want := serving.Namespace + "/" + serving.Name; inject != want {
		t.Errorf("%s=%q, want %q (the serving Certificate)", cmv1.WantInjectAnnotation, inject, want)
	}
	caIssuer := issuer(t, o, serving)
	// A serving certificate straight from a selfSigned issuer is its own CA: every renewal would
	// change the caBundle and race the cainjector.
	if caIssuer.Spec.CA == nil || caIssuer.Spec.SelfSigned != nil {
		t.Fatalf("serving Certificate is issued by %s, which is not a CA Issuer", caIssuer.Name)
	}
	var caCert *cmv1.Certificate
	for _, c := range All[*cmv1.Certificate](o) {
		if c.Namespace == caIssuer.Namespace && c.Spec.SecretName == caIssuer.Spec.CA.SecretName {
			caCert = c
		}
	}
	if caCert == nil {
		t.Fatalf("no Certificate writes the CA Secret %s", caIssuer.Spec.CA.SecretName)
	}
	if !caCert.Spec.IsCA {
		t.Errorf("Certificate %s backs a CA Issuer but is not isCA", caCert.Name)
	}
	if root := issuer(t, o, caCert); root.Spec.SelfSigned == nil {
		t.Errorf("CA Certificate %s is issued by %s, want a selfSigned Issuer", caCert.Name, root.Name)
	}
	if serving.Spec.IsCA {
		t.Error("serving Certificate is a CA")
	}
	for what, tc := range map[string]struct {
		cert                  *cmv1.Certificate
		duration, renewBefore time.Duration
		rotation              cmv1.PrivateKeyRotationPolicy
	}{
		// The CA keeps its key on renewal so that leaves it signed keep verifying.
		"CA":      {caCert, 87600 * time.Hour, 0, cmv1.RotationPolicyNever},
		"serving": {serving, 2160 * time.Hour, 360 * time.Hour, cmv1.RotationPolicyAlways},
	} {
		spec := tc.cert.Spec
		if got := duration(spec.Duration); got != tc.duration {
			t.Errorf("%s duration %v, want %v", what, got, tc.duration)
		}
		if got := duration(spec.RenewBefore); got != tc.renewBefore {
			t.Errorf("%s renewBefore %v, want %v", what, got, tc.renewBefore)
		}
		if pk := spec.PrivateKey; pk == nil || pk.Algorithm != cmv1.ECDSAKeyAlgorithm || pk.Size != 256 || pk.RotationPolicy != tc.rotation {
			t.Errorf("%s privateKey %+v, want ECDSA 256 with rotationPolicy %s", what, pk, tc.rotation)
		}
	}
	if !slices.Contains(serving.Spec.Usages, cmv1.UsageServerAuth) {
		t.Errorf("serving usages %q lack %q", serving.Spec.Usages, cmv1.UsageServerAuth)
	}
	// The API server verifies <service>.<namespace>.svc; the long form is for clients that use
	// the cluster domain.
	ref := Webhook(t, o, in).ClientConfig.Service
	svcDNS := ref.Name + "." + ref.Namespace + ".svc"
	if want := []string{svcDNS, svcDNS + ".cluster.local"}; !slices.Equal(serving.Spec.DNSNames, want) {
		t.Errorf("serving dnsNames %q, want %q", serving.Spec.DNSNames, want)
	}
}
