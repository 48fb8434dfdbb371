package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
)

// TestClientCAFile runs the webhook server with --client-ca-file and calls it from loopback as
// the API server would: without a certificate, with one from another CA, with the right one, and
// after the bundle is replaced by the other CA's.
func TestClientCAFile(t *testing.T) {
	apiServerCA, apiServerCert := newClientCA(t, "kube-apiserver")
	otherCA, otherCert := newClientCA(t, "intruder")
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(caFile, apiServerCA, 0o600); err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.ClientCAFile = caFile
	if err := o.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	addr := startServingWebhook(t, o)

	tests := map[string]struct {
		cert       *tls.Certificate
		wantServed bool
	}{
		"no client certificate":             {cert: nil, wantServed: false},
		"certificate from another CA":       {cert: &otherCert, wantServed: false},
		"certificate from the API server's": {cert: &apiServerCert, wantServed: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if err := callWebhook(addr, tc.cert); (err == nil) != tc.wantServed {
				t.Errorf("call = %v, want served %v", err, tc.wantServed)
			}
		})
	}

	t.Run("rotated bundle", func(t *testing.T) {
		if err := os.WriteFile(caFile, otherCA, 0o600); err != nil {
			t.Fatal(err)
		}
		// A later modification time, whatever the file system's timestamp granularity.
		later := time.Now().Add(time.Minute)
		if err := os.Chtimes(caFile, later, later); err != nil {
			t.Fatal(err)
		}
		if err := callWebhook(addr, &otherCert); err != nil {
			t.Errorf("certificate of the new CA refused: %v", err)
		}
		if err := callWebhook(addr, &apiServerCert); err == nil {
			t.Error("certificate of the replaced CA still served")
		}
	})

	t.Run("unreadable bundle keeps the last one", func(t *testing.T) {
		if err := os.Remove(caFile); err != nil {
			t.Fatal(err)
		}
		if err := callWebhook(addr, &otherCert); err != nil {
			t.Errorf("certificate of the last good CA refused: %v", err)
		}
		if err := callWebhook(addr, nil); err == nil {
			t.Error("served a caller without a certificate")
		}
	})
}

func TestClientCAFileValidated(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not-a-ca.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"missing": filepath.Join(dir, "missing.pem"),
		"not PEM": notPEM,
		"endless": "/dev/zero",
	}
	for name, file := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseArgs([]string{"--client-ca-file", file})
			if err == nil || !strings.Contains(err.Error(), "--client-ca-file") {
				t.Fatalf("parseArgs = %v, want an error naming --client-ca-file", err)
			}
		})
	}
}

// startServingWebhook runs the webhook server managerOptions builds from o on a free loopback
// port, with a handler on /validate that answers 200.
func startServingWebhook(t *testing.T, o Options) string {
	t.Helper()
	o.CertDir = t.TempDir()
	o.BindAddress = "127.0.0.1"
	o.Port = freePort(t)
	writeServingCert(t, o.CertDir, "before.pullguard.test")
	srv := managerOptions(o, k8sruntime.NewScheme(), nil).WebhookServer
	srv.Register("/validate", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	serveUntilStarted(t, srv, 10*time.Second)
	return net.JoinHostPort(o.BindAddress, fmt.Sprint(o.Port))
}

// callWebhook POSTs to /validate presenting cert (nil: none) on a new connection, and returns
// nil only if the server answered 200.
func callWebhook(addr string, cert *tls.Certificate) error {
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the server's certificate is not under test.
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: cfg, DisableKeepAlives: true}}
	resp, err := c.Post("https://"+addr+"/validate", "application/json", strings.NewReader("{}"))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// newClientCA returns a CA certificate (PEM) and a client certificate it signed for name.
func newClientCA(t *testing.T, name string) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(-time.Minute)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + "-ca"},
		NotBefore: now, NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err = x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: now, NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), cert
}
