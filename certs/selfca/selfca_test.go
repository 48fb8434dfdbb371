package selfca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pullguard/pullguard/certs/selfca"
)

const serviceDNS = "pullguard-webhook.pullguard-system.svc"

func parseCert(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("no CERTIFICATE PEM block in %q", pemBytes)
	}
	if len(rest) != 0 {
		t.Fatalf("%d trailing bytes after the certificate", len(rest))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parsing certificate: %v", err)
	}
	return cert
}

func assertP256(t *testing.T, what string, cert *x509.Certificate) {
	t.Helper()
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("%s key is %T, want ECDSA", what, cert.PublicKey)
	}
	if pub.Curve != elliptic.P256() {
		t.Errorf("%s curve is %s, want P-256", what, pub.Curve.Params().Name)
	}
}

func TestGenerate(t *testing.T) {
	tests := map[string]struct {
		dnsNames []string
		ips      []net.IP
	}{
		"service DNS names": {
			dnsNames: []string{serviceDNS, serviceDNS + ".cluster.local"},
		},
		"loopback IPs only": {
			ips: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		},
		"DNS names and IPs": {
			dnsNames: []string{"localhost", serviceDNS},
			ips:      []net.IP{net.ParseIP("127.0.0.1")},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			const validity = 24 * time.Hour
			start := time.Now()
			b, err := selfca.Generate(tc.dnsNames, tc.ips, validity)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			ca := parseCert(t, b.CACert)
			leaf := parseCert(t, b.Cert)

			if !ca.IsCA || !ca.BasicConstraintsValid || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
				t.Errorf("CA: IsCA=%v BasicConstraintsValid=%v KeyUsage=%v, want a CA that signs certificates",
					ca.IsCA, ca.BasicConstraintsValid, ca.KeyUsage)
			}
			if leaf.IsCA {
				t.Error("serving certificate is a CA")
			}
			assertP256(t, "CA", ca)
			assertP256(t, "serving", leaf)
			if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
				t.Errorf("serving ExtKeyUsage = %v, want [ServerAuth] only", leaf.ExtKeyUsage)
			}
			if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("serving KeyUsage = %v, want DigitalSignature only", leaf.KeyUsage)
			}
			if !leaf.NotBefore.Before(start) {
				t.Errorf("NotBefore %v is not before issuance %v: fresh certificates would be rejected by slightly slow clocks", leaf.NotBefore, start)
			}
			// X.509 times have a resolution of one second.
			if got := leaf.NotAfter; got.Before(start.Add(validity).Truncate(time.Second)) || got.After(time.Now().Add(validity)) {
				t.Errorf("NotAfter %v, want about %v", got, start.Add(validity))
			}

			roots := x509.NewCertPool()
			roots.AddCert(ca)
			subjects := slices.Clone(tc.dnsNames)
			for _, ip := range tc.ips {
				subjects = append(subjects, ip.String())
			}
			for _, subject := range subjects {
				if _, err := leaf.Verify(x509.VerifyOptions{
					DNSName:   subject,
					Roots:     roots,
					KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
				}); err != nil {
					t.Errorf("verify for %q: %v", subject, err)
				}
			}
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.example", Roots: roots}); err == nil {
				t.Error("serving certificate verifies for a name it was not issued for")
			}
			if _, err := leaf.Verify(x509.VerifyOptions{
				Roots:     roots,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			}); err == nil {
				t.Error("serving certificate verifies for client authentication")
			}

			if _, err := tls.X509KeyPair(b.Cert, b.Key); err != nil {
				t.Errorf("certificate and key do not form a pair: %v", err)
			}
			caBundle, err := base64.StdEncoding.DecodeString(b.CABundle())
			if err != nil || string(caBundle) != string(b.CACert) {
				t.Errorf("CABundle does not decode to the CA PEM (err %v)", err)
			}
		})
	}
}

func TestGenerateDistinctCAs(t *testing.T) {
	first, err := selfca.Generate([]string{serviceDNS}, nil, time.Hour)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	second, err := selfca.Generate([]string{serviceDNS}, nil, time.Hour)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(parseCert(t, first.CACert))
	if _, err := parseCert(t, second.Cert).Verify(x509.VerifyOptions{DNSName: serviceDNS, Roots: roots}); err == nil {
		t.Error("a certificate from one run verifies against the CA of another run")
	}
}

func TestGenerateRejects(t *testing.T) {
	tests := map[string]struct {
		dnsNames []string
		ips      []net.IP
		validity time.Duration
		want     error
	}{
		"no subjects":       {validity: time.Hour, want: selfca.ErrNoSubjects},
		"zero validity":     {dnsNames: []string{serviceDNS}, want: selfca.ErrInvalidValidity},
		"negative validity": {dnsNames: []string{serviceDNS}, validity: -time.Hour, want: selfca.ErrInvalidValidity},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := selfca.Generate(tc.dnsNames, tc.ips, tc.validity)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Generate error = %v, want %v", err, tc.want)
			}
			if b != nil {
				t.Error("Generate returned a bundle with its error")
			}
		})
	}
}

func TestWriteDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "serving-certs")
	first, err := selfca.Generate([]string{"localhost"}, nil, time.Hour)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if err := first.WriteDir(dir); err != nil {
		t.Fatalf("WriteDir into a new directory: %v", err)
	}
	// A second bundle replaces the first, as a certificate rotation does.
	second, err := selfca.Generate([]string{"localhost"}, nil, time.Hour)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if err := second.WriteDir(dir); err != nil {
		t.Fatalf("WriteDir over existing files: %v", err)
	}

	tests := map[string]struct {
		want []byte
		mode os.FileMode
	}{
		selfca.CACertFile: {want: second.CACert, mode: 0o644},
		selfca.CertFile:   {want: second.Cert, mode: 0o644},
		selfca.KeyFile:    {want: second.Key, mode: 0o600},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			if string(got) != string(tc.want) {
				t.Errorf("%s does not hold the latest bundle", name)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatalf("stat: %v", err)
			}
			if info.Mode().Perm() != tc.mode {
				t.Errorf("mode %v, want %v", info.Mode().Perm(), tc.mode)
			}
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading dir: %v", err)
	}
	if len(entries) != len(tests) {
		t.Errorf("directory holds %d entries, want %d (temporary files left behind?)", len(entries), len(tests))
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, selfca.CertFile), filepath.Join(dir, selfca.KeyFile)); err != nil {
		t.Errorf("written pair does not load: %v", err)
	}
}

// TestHandshake proves the bundle works the way the API server uses it: a TLS client that trusts
// only the CA and checks the server name connects to a server using the serving pair.
func TestHandshake(t *testing.T) {
	b, err := selfca.Generate([]string{serviceDNS}, []net.IP{net.ParseIP("127.0.0.1")}, time.Hour)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	pair, err := tls.X509KeyPair(b.Cert, b.Key)
	if err != nil {
		t.Fatalf("loading pair: %v", err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			// The handshake happens on the first read; the client closes right after it.
			_, _ = conn.Read(make([]byte, 1))
			conn.Close()
		}
	}()

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(b.CACert) {
		t.Fatal("CA PEM does not load into a pool")
	}
	tests := map[string]struct {
		serverName string
		wantErr    bool
	}{
		"service DNS name": {serverName: serviceDNS},
		"IP address":       {serverName: "127.0.0.1"},
		"unknown name":     {serverName: "registry.example", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dialer := &net.Dialer{Timeout: 5 * time.Second}
			conn, err := tls.DialWithDialer(dialer, "tcp", ln.Addr().String(), &tls.Config{
				RootCAs:    roots,
				ServerName: tc.serverName,
				MinVersion: tls.VersionTLS12,
			})
			if conn != nil {
				conn.Close()
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("handshake error = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

// TestCAIssue: certificates issued by one CA all verify against that CA alone (the test
// registries of one test share a CA file), and none outlives the CA.
func TestCAIssue(t *testing.T) {
	ca, err := selfca.NewCA(time.Hour)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca.CertPEM) {
		t.Fatal("CA PEM does not load into a pool")
	}
	caCert := parseCert(t, ca.CertPEM)
	for _, host := range []string{"localhost", "index.docker.io"} {
		b, err := ca.Issue([]string{host}, []net.IP{net.IPv4(127, 0, 0, 1)}, 48*time.Hour)
		if err != nil {
			t.Fatalf("Issue(%s): %v", host, err)
		}
		if !slices.Equal(b.CACert, ca.CertPEM) {
			t.Errorf("Issue(%s): bundle names another CA", host)
		}
		leaf := parseCert(t, b.Cert)
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("Issue(%s): %v", host, err)
		}
		if leaf.NotAfter.After(caCert.NotAfter) {
			t.Errorf("Issue(%s): valid until %s, after its CA (%s)", host, leaf.NotAfter, caCert.NotAfter)
		}
	}
	if _, err := ca.Issue(nil, nil, time.Hour); !errors.Is(err, selfca.ErrNoSubjects) {
		t.Errorf("Issue without subjects: %v, want %v", err, selfca.ErrNoSubjects)
	}
}

// TestCAIssueClient: a client certificate verifies for client authentication against its CA
// only, never as a serving certificate, and carries the name it authenticates as.
func TestCAIssueClient(t *testing.T) {
	ca, err := selfca.NewCA(time.Hour)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	other, err := selfca.NewCA(time.Hour)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	b, err := ca.IssueClient("kube-apiserver", time.Hour)
	if err != nil {
		t.Fatalf("IssueClient: %v", err)
	}
	leaf := parseCert(t, b.Cert)
	if leaf.Subject.CommonName != "kube-apiserver" {
		t.Errorf("common name %q, want kube-apiserver", leaf.Subject.CommonName)
	}
	tests := map[string]struct {
		ca      []byte
		usage   x509.ExtKeyUsage
		wantErr bool
	}{
		"client auth, its CA":     {ca: ca.CertPEM, usage: x509.ExtKeyUsageClientAuth},
		"client auth, another CA": {ca: other.CertPEM, usage: x509.ExtKeyUsageClientAuth, wantErr: true},
		"server auth, its own CA": {ca: ca.CertPEM, usage: x509.ExtKeyUsageServerAuth, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(tc.ca)
			_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{tc.usage}})
			if (err != nil) != tc.wantErr {
				t.Errorf("Verify: %v, want error %v", err, tc.wantErr)
			}
		})
	}
	if _, err := ca.IssueClient("", time.Hour); !errors.Is(err, selfca.ErrNoCommonName) {
		t.Errorf("IssueClient without a name: %v, want %v", err, selfca.ErrNoCommonName)
	}
}
