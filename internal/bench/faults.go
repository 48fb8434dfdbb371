package bench

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/internal/testregistry"
)

// Fault is how a FaultFront misbehaves. The zero Fault forwards everything untouched.
type Fault struct {
	// Registry is what the registry's requests get, from the fault front every test shares: RTT
	// holds every request (a registry across a network rather than on loopback; combine with
	// Token.Delay for its token service), the other faults apply to manifest requests.
	Registry testregistry.Fault
	// UntrustedCertificate serves a certificate from a CA the webhook does not trust, so every
	// TLS handshake fails.
	UntrustedCertificate bool
	// Token, when set, replaces the token service: the registry's Bearer challenges name a
	// token front that misbehaves as described.
	Token *TokenFault
}

// TokenFault is how the token front misbehaves.
type TokenFault struct {
	// Down: nothing listens at the realm (connection refused).
	Down bool
	// Delay holds each token request this long before forwarding it.
	Delay time.Duration
	// Hang holds token requests until the client gives up.
	Hang bool
}

// FaultFront is a TLS server on loopback in front of the bed's token-auth registry that
// misbehaves as its Fault says on manifest requests (and, through a token front, on token
// requests), and forwards everything else. Each front has its own address, so the images it
// serves share no cache entry with any other front's.
type FaultFront struct {
	// Host is 127.0.0.1:port, as written in image references.
	Host string

	front, token   *testregistry.Front
	faults, tokens *testregistry.Faults
	once           sync.Once
}

// Ref is repoTag ("demo/web:1.0") on this front.
func (f *FaultFront) Ref(repoTag string) string { return f.Host + "/" + repoTag }

var realmPattern = regexp.MustCompile(`realm="https://localhost:(\d+)/token"`)

// StartFaultFront starts a front with fault in front of c.Bed.Registry. It stops with the cluster.
func (c *Cluster) StartFaultFront(fault Fault) (*FaultFront, error) {
	f := &FaultFront{faults: testregistry.NewFaults(), tokens: testregistry.NewFaults()}
	f.faults.Set(fault.Registry)
	serverTLS := c.Bed.LoopbackServerTLS()
	if fault.UntrustedCertificate {
		l, err := testbed.NewLoopbackTLS(filepath.Join(c.Bed.Dir, fmt.Sprintf("bench-untrusted-%d", time.Now().UnixNano())))
		if err != nil {
			return nil, err
		}
		serverTLS = &tls.Config{Certificates: []tls.Certificate{l.Pair}, MinVersion: tls.VersionTLS12}
	}
	transport := &http.Transport{Proxy: nil, TLSClientConfig: c.Bed.LoopbackClientTLS(), ResponseHeaderTimeout: 30 * time.Second}
	realm := ""
	if fault.Token != nil {
		var err error
		if realm, err = f.startTokenFront(c, *fault.Token, serverTLS, transport); err != nil {
			return nil, err
		}
	}
	proxy := testregistry.Proxy(&url.URL{Scheme: "https", Host: c.Bed.Registry.Host}, transport)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if realm == "" {
			return nil
		}
		if h := resp.Header.Get("WWW-Authenticate"); h != "" {
			resp.Header.Set("WWW-Authenticate", realmPattern.ReplaceAllString(h, `realm="`+realm+`"`))
		}
		return nil
	}
	// Only an HTTP/1.1 connection can be hijacked and reset; over HTTP/2 a handler can only
	// reset its stream.
	front, err := testregistry.StartFront(f.faults.Handler(proxy), testregistry.FrontConfig{TLS: serverTLS, HTTP2: !fault.Registry.Reset})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("starting a fault front: %w", err)
	}
	f.front, f.Host = front, front.Addr
	c.fronts = append(c.fronts, f)
	return f, nil
}

// startTokenFront starts the token front for fault and returns the realm to advertise.
func (f *FaultFront) startTokenFront(c *Cluster, fault TokenFault, serverTLS *tls.Config, transport http.RoundTripper) (string, error) {
	if fault.Down {
		// The realm is a host name, as Docker Hub's is: an IP-literal realm on another port
		// than the registry's is refused by go-containerregistry (and the webhook's network
		// guard).
		port, err := testbed.FreePort()
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("https://localhost:%d/token", port), nil
	}
	upstream, err := c.tokenRealm()
	if err != nil {
		return "", err
	}
	f.tokens.Set(testregistry.Fault{All: true, Delay: fault.Delay, Hang: fault.Hang})
	proxy := testregistry.Proxy(upstream, transport)
	proxy.Rewrite = func(pr *httputil.ProxyRequest) { pr.SetURL(upstream); pr.Out.URL.Path = upstream.Path }
	token, err := testregistry.StartFront(f.tokens.Handler(proxy), testregistry.FrontConfig{TLS: serverTLS, HTTP2: true})
	if err != nil {
		return "", fmt.Errorf("starting a token front: %w", err)
	}
	f.token = token
	return "https://localhost:" + token.Port + "/token", nil
}

// tokenRealm reads the realm of the token-auth registry's Bearer challenge.
func (c *Cluster) tokenRealm() (*url.URL, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: c.Bed.LoopbackClientTLS()}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + c.Bed.Registry.Host + "/v2/")
	if err != nil {
		return nil, fmt.Errorf("pinging the registry: %w", err)
	}
	resp.Body.Close()
	m := realmPattern.FindStringSubmatch(resp.Header.Get("WWW-Authenticate"))
	if m == nil {
		return nil, fmt.Errorf("no token realm in %q", resp.Header.Get("WWW-Authenticate"))
	}
	return url.Parse("https://localhost:" + m[1] + "/token")
}

// SetRegistryFault changes what the registry's requests get from now on (Fault.Registry).
func (f *FaultFront) SetRegistryFault(fault testregistry.Fault) { f.faults.Set(fault) }

// Close stops the front, releasing held requests first.
func (f *FaultFront) Close() {
	f.once.Do(func() {
		f.faults.Close()
		f.tokens.Close()
		if f.front != nil {
			f.front.Close()
		}
		if f.token != nil {
			f.token.Close()
		}
	})
}
