// Package selfca issues a private CA and a TLS serving certificate signed by it, for clusters
// without cert-manager, for local runs and for the end-to-end tests.
//
// The chain mirrors what certs/cert-manager builds in a cluster (a CA that signs the serving
// certificate, never a self-signed leaf), so the API server trusts the CA through
// clientConfig.caBundle and a later serving certificate from the same CA needs no caBundle change.
package selfca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names written by WriteDir. They are the keys of a kubernetes.io/tls Secret as cert-manager
// writes it, and the names controller-runtime's webhook server reads from its --cert-dir.
const (
	CACertFile = "ca.crt"
	CertFile   = "tls.crt"
	KeyFile    = "tls.key"
)

// clockSkew backdates NotBefore so that a certificate is valid at once on machines (API server,
// nodes) whose clocks run slightly behind the one that issued it.
const clockSkew = 5 * time.Minute

var (
	// ErrNoSubjects is returned when neither a DNS name nor an IP address is given: a serving
	// certificate without SANs verifies for no client.
	ErrNoSubjects = errors.New("at least one DNS name or IP address is required")
	// ErrInvalidValidity is returned for a validity that is not positive.
	ErrInvalidValidity = errors.New("validity must be positive")
	// ErrNoCommonName is returned for a client certificate without a name to authenticate as.
	ErrNoCommonName = errors.New("a common name is required")
)

// Bundle holds PEM-encoded material: the CA certificate, the serving certificate and the serving
// certificate's private key (PKCS #8). The CA's private key is not kept: nothing needs to sign with
// it again, and a key that is never written cannot leak.
type Bundle struct {
	CACert []byte
	Cert   []byte
	Key    []byte
}

// Generate creates an ECDSA P-256 CA and a serving certificate for dnsNames and ips, both valid
// for validity from now. The serving certificate is usable for TLS server authentication only.
func Generate(dnsNames []string, ips []net.IP, validity time.Duration) (*Bundle, error) {
	ca, err := NewCA(validity)
	if err != nil {
		return nil, err
	}
	return ca.Issue(dnsNames, ips, validity)
}

// CA is a private certificate authority held in memory, for callers that issue several serving
// certificates from one CA (the test registries of a test share one CA file). Its key is never
// written anywhere.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// CertPEM is the CA certificate, PEM-encoded: what a client trusts.
	CertPEM []byte
}

// NewCA creates an ECDSA P-256 CA valid for validity from now.
func NewCA(validity time.Duration) (*CA, error) {
	if validity <= 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidValidity, validity)
	}
	notBefore := time.Now().Add(-clockSkew)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "pullguard-ca"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(clockSkew + validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// The CA signs leaves only, never another CA.
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	// Sign with the parsed certificate so that the leaf's AuthorityKeyId is taken from the CA's
	// generated SubjectKeyId.
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing CA certificate: %w", err)
	}
	return &CA{cert: cert, key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Issue signs a serving certificate for dnsNames and ips, valid for validity from now (and never
// beyond the CA), usable for TLS server authentication only.
func (ca *CA) Issue(dnsNames []string, ips []net.IP, validity time.Duration) (*Bundle, error) {
	if len(dnsNames) == 0 && len(ips) == 0 {
		return nil, ErrNoSubjects
	}
	commonName := "pullguard-webhook"
	if len(dnsNames) > 0 {
		commonName = dnsNames[0]
	}
	return ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		DNSNames:    dnsNames,
		IPAddresses: ips,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, validity)
}

// IssueClient signs a certificate for TLS client authentication as commonName, valid for
// validity from now (and never beyond the CA): what an API server presents to a webhook that
// verifies its callers (its admission configuration's kubeConfigFile).
func (ca *CA) IssueClient(commonName string, validity time.Duration) (*Bundle, error) {
	if commonName == "" {
		return nil, ErrNoCommonName
	}
	return ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, validity)
}

// issue fills in template's key, serial, validity and usage, and signs it.
func (ca *CA) issue(template *x509.Certificate, validity time.Duration) (*Bundle, error) {
	if validity <= 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidValidity, validity)
	}
	notBefore := time.Now().Add(-clockSkew)
	notAfter := notBefore.Add(clockSkew + validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	template.SerialNumber, template.NotBefore, template.NotAfter = serial, notBefore, notAfter
	// Digital signature is what an ECDSA key does in a TLS handshake; there is no key
	// encipherment with ECDSA.
	template.KeyUsage = x509.KeyUsageDigitalSignature
	template.BasicConstraintsValid = true
	certDER, err := x509.CreateCertificate(rand.Reader, template, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("creating certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding key: %w", err)
	}
	return &Bundle{
		CACert: ca.CertPEM,
		Cert:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}),
		Key:    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// CABundle returns the CA certificate in the form of a webhook's clientConfig.caBundle when it is
// written into YAML or a JSON patch: base64 of the PEM.
func (b *Bundle) CABundle() string {
	return base64.StdEncoding.EncodeToString(b.CACert)
}

// WriteDir writes ca.crt, tls.crt and tls.key into dir, creating it if needed. Each file is
// replaced atomically (a temporary file renamed over it), so a server watching the directory
// never reads a half-written file.
func (b *Bundle) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{CACertFile, b.CACert, 0o644},
		// The certificate goes last: a watcher reloads on every change, and the last change it
		// sees then pairs the new certificate with the new key.
		{KeyFile, b.Key, 0o600},
		{CertFile, b.Cert, 0o644},
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("creating temporary file for %s: %w", path, err)
	}
	// Once renamed, the temporary name no longer exists and this Remove is a no-op.
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("setting mode of %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	return nil
}

// serialNumber returns a random 128-bit serial: serials must be unique per CA (RFC 5280
// §4.1.2.2), and every run of Generate is a new CA, so randomness is all it takes.
func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return n, nil
}
