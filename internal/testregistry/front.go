package testregistry

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"time"
)

// Front is a TLS server on 127.0.0.1 for a registry handler: a fake registry's own server, or a
// front before a real registry (Proxy) that counts or misbehaves (Faults).
type Front struct {
	// Addr is "127.0.0.1:port", as written in image references.
	Addr string
	// Port is the listening port.
	Port string

	srv *httptest.Server
}

// FrontConfig configures StartFront.
type FrontConfig struct {
	// TLS holds the serving certificate.
	TLS *tls.Config
	// HTTP2 offers HTTP/2 next to HTTP/1.1, as an http.Server serving TLS does by default;
	// without it the front speaks HTTP/1.1 only, as httptest does, and Fault.Reset can reset
	// the connection.
	HTTP2 bool
}

// StartFront serves h on a new loopback port.
func StartFront(h http.Handler, cfg FrontConfig) (*Front, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening on loopback: %w", err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = ln
	srv.TLS = cfg.TLS.Clone()
	if cfg.HTTP2 {
		srv.EnableHTTP2 = true
		srv.TLS.NextProtos = []string{"h2", "http/1.1"}
	}
	// Probes and clients that give up make TLS handshake noise: nothing a test reads.
	srv.Config.ErrorLog = DiscardLog()
	// A client that opens a connection and never sends a request does not hold it forever.
	srv.Config.ReadHeaderTimeout = 5 * time.Second
	srv.StartTLS()
	f := &Front{Addr: ln.Addr().String(), srv: srv}
	_, f.Port, _ = net.SplitHostPort(f.Addr)
	return f, nil
}

// Serve serves h over TLS on a new loopback port, as each of hosts on n, with a certificate from
// ca: a fake registry that misbehaves in its own way. Close the Front when done.
func (n *Network) Serve(ca *CA, h http.Handler, hosts ...string) (*Front, error) {
	cert, err := ca.ServerCertificate(hosts...)
	if err != nil {
		return nil, err
	}
	f, err := StartFront(h, FrontConfig{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	if err != nil {
		return nil, err
	}
	for _, host := range hosts {
		n.AddAddr(host, f.Addr)
	}
	return f, nil
}

// Close drops every connection and waits for the handlers to return; release held requests
// (Faults.Close) first.
func (f *Front) Close() {
	f.srv.CloseClientConnections()
	f.srv.Close()
}

// Proxy forwards every request to upstream ("https://host:port") through transport, keeping the
// Host the client sent: a registry builds its Location headers (blob uploads) from it.
func Proxy(upstream *url.URL, transport http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.Host = pr.In.Host
		},
		Transport: transport,
		ErrorLog:  DiscardLog(),
	}
}

// DiscardLog is an error log for net/http servers and proxies that drops everything.
func DiscardLog() *log.Logger { return log.New(io.Discard, "", 0) }
