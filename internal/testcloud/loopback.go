package testcloud

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// loopbackDial refuses every non-loopback address, counting the refusals.
func loopbackDial(refused *atomic.Int32) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			refused.Add(1)
			return nil, errors.New("test dialer: " + addr + " is not loopback")
		}
		return d.DialContext(ctx, network, addr)
	}
}

// LoopbackHTTPClient is a plain HTTP client (for golang.org/x/oauth2 and azcore) whose dialer
// refuses every non-loopback address, trusting roots (nil: the system's) and following no
// proxy. refused counts the refusals.
func LoopbackHTTPClient(refused *atomic.Int32, roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy:           nil,
		DialContext:     loopbackDial(refused),
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
}
