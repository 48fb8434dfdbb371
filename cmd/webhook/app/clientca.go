package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// clientCAs is the --client-ca-file bundle that verifies the API server's client certificate.
// It is read again when the file changes (a Secret or ConfigMap volume swaps it in place), so a
// rotated CA needs no restart; a bundle that fails to read keeps the previous one.
type clientCAs struct {
	path string
	log  logr.Logger

	mu      sync.Mutex
	pool    *x509.CertPool
	modTime time.Time
	size    int64
}

// newClientCAs loads path. An unreadable bundle (Validate has checked it already) gives an empty
// pool, never a nil one: a nil ClientCAs would make crypto/tls verify client certificates
// against the system roots.
func newClientCAs(path string, log logr.Logger) *clientCAs {
	c := &clientCAs{path: path, log: log, pool: x509.NewCertPool()}
	c.current()
	return c
}

// current returns the pool, reloaded first if the file's size or modification time changed.
func (c *clientCAs) current() *x509.CertPool {
	fi, statErr := os.Stat(c.path)
	c.mu.Lock()
	defer c.mu.Unlock()
	if statErr != nil {
		if c.size >= 0 {
			c.log.Error(statErr, "Client CA bundle unreadable; keeping the previous one", "path", c.path)
			c.size = -1 // log once until the file is back
		}
		return c.pool
	}
	if fi.ModTime().Equal(c.modTime) && fi.Size() == c.size {
		return c.pool
	}
	c.modTime, c.size = fi.ModTime(), fi.Size()
	pool, err := readCABundle(c.path)
	if err != nil {
		c.log.Error(err, "Client CA bundle invalid; keeping the previous one", "path", c.path)
		return c.pool
	}
	c.pool = pool
	return c.pool
}

// configure makes cfg require a client certificate that verifies against the current bundle.
// The certificate callbacks controller-runtime sets on cfg after the TLS options run are kept:
// each handshake uses a clone of cfg as it is then.
func (c *clientCAs) configure(cfg *tls.Config) {
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = c.current()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		conn := cfg.Clone()
		conn.GetConfigForClient = nil
		conn.ClientCAs = c.current()
		return conn, nil
	}
}

// readCABundle reads a PEM bundle of at most maxCABundleBytes holding at least one certificate.
func readCABundle(path string) (*x509.CertPool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading CA bundle: %w", err)
	}
	defer f.Close()
	// Bounded: a path such as /dev/zero must fail, not hang or exhaust memory.
	pem, err := io.ReadAll(io.LimitReader(f, maxCABundleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading CA bundle: %w", err)
	}
	if len(pem) > maxCABundleBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxCABundleBytes)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("holds no PEM certificate")
	}
	return pool, nil
}
