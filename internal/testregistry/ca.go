package testregistry

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/pullguard/pullguard/certs/selfca"
)

// validity outlasts any test run.
const validity = 24 * time.Hour

// CA is a throw-away certificate authority for loopback TLS servers. Clients trust it through a
// PEM file (WriteFile), the same way an operator hands pullguard a private registry's CA.
type CA struct {
	ca *selfca.CA
	// CertPEM is the CA certificate.
	CertPEM []byte
}

// NewCA creates a CA valid for one day.
func NewCA() (*CA, error) {
	ca, err := selfca.NewCA(validity)
	if err != nil {
		return nil, fmt.Errorf("creating the test CA: %w", err)
	}
	return &CA{ca: ca, CertPEM: ca.CertPEM}, nil
}

// WriteFile writes the CA certificate as PEM into dir and returns the file's path.
func (ca *CA) WriteFile(dir string) (string, error) {
	path := filepath.Join(dir, "registry-ca.pem")
	if err := os.WriteFile(path, ca.CertPEM, 0o600); err != nil {
		return "", fmt.Errorf("writing CA file: %w", err)
	}
	return path, nil
}

// ServerCertificate issues a serving certificate for 127.0.0.1, ::1, localhost and hosts.
func (ca *CA) ServerCertificate(hosts ...string) (tls.Certificate, error) {
	b, err := ca.ca.Issue(append([]string{"localhost"}, hosts...), []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, validity)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issuing the test registry's certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(b.Cert, b.Key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("loading the test registry's certificate: %w", err)
	}
	return pair, nil
}
