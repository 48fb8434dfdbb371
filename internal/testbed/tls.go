package testbed

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/pullguard/pullguard/certs/selfca"
)

// TLSMaterial is a CA and a serving certificate for 127.0.0.1 and localhost, written to a
// directory with selfca's file names (ca.crt, tls.crt, tls.key).
type TLSMaterial struct {
	Dir      string
	CAFile   string
	CertFile string
	KeyFile  string
	CAPEM    []byte
	Pair     tls.Certificate
	Pool     *x509.CertPool
}

// NewLoopbackTLS generates the material into dir; the bed and the benchmarks use it.
func NewLoopbackTLS(dir string) (*TLSMaterial, error) {
	b, err := selfca.Generate([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, 24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("generating a loopback certificate: %w", err)
	}
	if err := b.WriteDir(dir); err != nil {
		return nil, fmt.Errorf("writing the loopback certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(b.Cert, b.Key)
	if err != nil {
		return nil, fmt.Errorf("loading the loopback certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b.CACert) {
		return nil, fmt.Errorf("loading the loopback CA: no certificate in PEM")
	}
	return &TLSMaterial{
		Dir:      dir,
		CAFile:   filepath.Join(dir, selfca.CACertFile),
		CertFile: filepath.Join(dir, selfca.CertFile),
		KeyFile:  filepath.Join(dir, selfca.KeyFile),
		CAPEM:    b.CACert,
		Pair:     pair,
		Pool:     pool,
	}, nil
}

// clientConfig trusts only this CA.
func (m *TLSMaterial) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: m.Pool, MinVersion: tls.VersionTLS12}
}

// serverConfig serves the loopback certificate.
func (m *TLSMaterial) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{m.Pair}, MinVersion: tls.VersionTLS12}
}
