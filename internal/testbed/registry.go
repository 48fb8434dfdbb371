package testbed

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pullguard/pullguard/internal/testregistry"
	"golang.org/x/crypto/bcrypt"
)

// Auth selects how a registry authenticates clients.
type Auth int

const (
	// AuthToken is Docker Hub's scheme: Bearer challenges answered by a separate token service.
	// Anonymous clients may pull the public repositories.
	AuthToken Auth = iota + 1
	// AuthHtpasswd is Basic auth against an htpasswd file: every request needs credentials.
	AuthHtpasswd
)

func (a Auth) String() string {
	switch a {
	case AuthToken:
		return "token"
	case AuthHtpasswd:
		return "htpasswd"
	}
	return "unknown"
}

// RegistryOptions configures StartRegistry.
type RegistryOptions struct {
	// Binary is the distribution registry executable.
	Binary string
	// Dir holds the registry's config, storage and log.
	Dir string
	// TLS is the serving certificate (for 127.0.0.1) of the registry and its token service.
	TLS      *TLSMaterial
	Auth     Auth
	Accounts []Account
	// Public lists repositories (or prefixes ending in "/") anonymous clients may pull (AuthToken).
	Public []string
}

// Registry is a running CNCF Distribution registry.
//
// Clients reach it at Host, a counting TLS front on 127.0.0.1 that forwards every request to the
// registry process (itself serving TLS on another loopback port) and counts manifest and blob
// requests per repository. Per-repository counts let parallel tests each assert that their own
// operations did or did not reach the registry.
type Registry struct {
	// Host is host:port, as written in image references.
	Host string
	Auth Auth

	tls   *TLSMaterial
	proc  *process
	front *testregistry.Front
	token *tokenServer

	mu        sync.Mutex
	manifests map[string]int
	blobs     map[string]int
	// upstreamProto is the protocol of the front's last answer from the registry.
	upstreamProto string

	stopOnce sync.Once
	stopErr  error
}

const registryStartAttempts = 3

// StartRegistry writes a config.yml for the requested auth mode and starts the registry binary.
func StartRegistry(ctx context.Context, opts RegistryOptions) (*Registry, error) {
	if err := os.MkdirAll(filepath.Join(opts.Dir, "data"), 0o700); err != nil {
		return nil, fmt.Errorf("creating the registry directory: %w", err)
	}
	r := &Registry{Auth: opts.Auth, tls: opts.TLS, manifests: map[string]int{}, blobs: map[string]int{}}
	authConfig, err := r.writeAuth(opts)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < registryStartAttempts; attempt++ {
		if lastErr = r.startProcess(ctx, opts, authConfig); lastErr == nil {
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	if lastErr != nil {
		_ = r.Stop()
		return nil, lastErr
	}
	return r, nil
}

// writeAuth writes the credential files and returns the config.yml auth section.
func (r *Registry) writeAuth(opts RegistryOptions) (string, error) {
	switch opts.Auth {
	case AuthHtpasswd:
		var b strings.Builder
		for _, a := range opts.Accounts {
			hash, err := bcrypt.GenerateFromPassword([]byte(a.Password), bcrypt.MinCost)
			if err != nil {
				return "", fmt.Errorf("hashing the password of %q: %w", a.Username, err)
			}
			fmt.Fprintf(&b, "%s:%s\n", a.Username, hash)
		}
		path := filepath.Join(opts.Dir, "htpasswd")
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			return "", fmt.Errorf("writing htpasswd: %w", err)
		}
		return fmt.Sprintf("auth:\n  htpasswd:\n    realm: pullguard-testbed\n    path: %s\n", strconv.Quote(path)), nil
	case AuthToken:
		const service = "pullguard-testbed-registry"
		ts, err := startTokenServer(opts.TLS, service, opts.Accounts, opts.Public)
		if err != nil {
			return "", err
		}
		r.token = ts
		bundle := filepath.Join(opts.Dir, "token-signer.crt")
		if err := os.WriteFile(bundle, ts.certPEM, 0o600); err != nil {
			return "", fmt.Errorf("writing the token root certificate bundle: %w", err)
		}
		return fmt.Sprintf("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
			strconv.Quote(ts.realm), strconv.Quote(service), strconv.Quote(ts.issuer), strconv.Quote(bundle)), nil
	}
	return "", fmt.Errorf("unknown registry auth mode %d", opts.Auth)
}

func (r *Registry) startProcess(ctx context.Context, opts RegistryOptions, authConfig string) error {
	port, err := FreePort()
	if err != nil {
		return err
	}
	upstream := loopbackAddr(port)
	config := fmt.Sprintf(`version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  tls:
    certificate: %s
    key: %s
%s`, strconv.Quote(filepath.Join(opts.Dir, "data")), upstream,
		strconv.Quote(opts.TLS.CertFile), strconv.Quote(opts.TLS.KeyFile), authConfig)
	configPath := filepath.Join(opts.Dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		return fmt.Errorf("writing the registry config: %w", err)
	}
	p, err := startProcess("registry", opts.Binary, []string{"serve", configPath}, filepath.Join(opts.Dir, "registry.log"))
	if err != nil {
		return err
	}
	if err := r.startFront(upstream); err != nil {
		_ = p.stop()
		return err
	}
	r.proc = p
	if err := r.waitReady(ctx); err != nil {
		r.front.Close()
		r.front = nil
		_ = p.stop()
		r.proc = nil
		return err
	}
	return nil
}

func (r *Registry) startFront(upstream string) error {
	// The registry serves HTTP/2 over TLS (distribution's default), as the registries users pull
	// from do: the front's hop to it must not be the only HTTP/1.1 link, or concurrent requests
	// through the front each open a TLS connection inside the bed. A Transport with its own TLS
	// config only tries h2 when asked.
	proxy := testregistry.Proxy(&url.URL{Scheme: "https", Host: upstream}, protoRecorder{r, &http.Transport{
		TLSClientConfig:       r.tls.clientConfig(),
		ForceAttemptHTTP2:     true,
		Proxy:                 nil,
		ResponseHeaderTimeout: 30 * time.Second,
	}})
	front, err := testregistry.StartFront(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.count(req.URL.Path)
		proxy.ServeHTTP(w, req)
	}), testregistry.FrontConfig{TLS: r.tls.serverConfig(), HTTP2: true})
	if err != nil {
		return fmt.Errorf("starting the registry front: %w", err)
	}
	r.front, r.Host = front, front.Addr
	return nil
}

// protoRecorder notes the protocol the registry answered the front with.
type protoRecorder struct {
	r     *Registry
	inner http.RoundTripper
}

func (p protoRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := p.inner.RoundTrip(req)
	if err == nil {
		p.r.mu.Lock()
		p.r.upstreamProto = resp.Proto
		p.r.mu.Unlock()
	}
	return resp, err
}

// UpstreamProto is the protocol of the front's last answer from the registry ("HTTP/2.0").
func (r *Registry) UpstreamProto() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.upstreamProto
}

// waitReady polls /v2/ through the front until the registry answers (401 with auth on).
func (r *Registry) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: r.tls.clientConfig(), Proxy: nil}, Timeout: 2 * time.Second}
	defer c.CloseIdleConnections()
	for {
		if r.proc.exited() {
			return fmt.Errorf("the registry exited during startup: %s", r.proc.logTail())
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+r.Host+"/v2/", nil)
		if err != nil {
			return fmt.Errorf("building the registry readiness request: %w", err)
		}
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the registry did not become ready: %w; log: %s", ctx.Err(), r.proc.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *Registry) count(path string) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := strings.LastIndex(rest, "/manifests/"); i > 0 {
		r.manifests[rest[:i]]++
	} else if i := strings.LastIndex(rest, "/blobs/"); i > 0 {
		r.blobs[rest[:i]]++
	}
}

// Requests counts what reached the registry for one repository ("demo/web").
type Requests struct {
	// Manifests are manifest GETs, HEADs, PUTs and DELETEs, answered or refused.
	Manifests int
	// Blobs are blob requests (config blobs for platform checks, pushes).
	Blobs int
	// Tokens are token requests whose scope named the repository (AuthToken only).
	Tokens int
}

// Total is every request counted.
func (q Requests) Total() int { return q.Manifests + q.Blobs + q.Tokens }

// Requests returns the counts for repo so far.
func (r *Registry) Requests(repo string) Requests {
	r.mu.Lock()
	q := Requests{Manifests: r.manifests[repo], Blobs: r.blobs[repo]}
	r.mu.Unlock()
	if r.token != nil {
		q.Tokens = r.token.count(repo)
	}
	return q
}

// Ref is an image reference on this registry ("demo/web:1.0" → "127.0.0.1:PORT/demo/web:1.0").
func (r *Registry) Ref(repoAndTag string) string {
	return r.Host + "/" + repoAndTag
}

// RemoteOptions are go-containerregistry options for this registry with the account's credentials.
func (r *Registry) RemoteOptions(ctx context.Context, a Account) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(&authn.Basic{Username: a.Username, Password: a.Password}),
		remote.WithTransport(&http.Transport{TLSClientConfig: r.tls.clientConfig(), Proxy: nil}),
	}
}

// PID is the registry process's id, so that a benchmark can account for the CPU it uses; the
// front and the token service run in the bed's own process.
func (r *Registry) PID() int { return r.proc.cmd.Process.Pid }

// Stop stops the registry process, its front and its token service. Stopping twice is fine.
func (r *Registry) Stop() error {
	r.stopOnce.Do(func() {
		var errs []error
		if r.front != nil {
			r.front.Close()
		}
		if r.proc != nil {
			errs = append(errs, r.proc.stop())
		}
		if r.token != nil {
			errs = append(errs, r.token.close())
		}
		if err := errors.Join(errs...); err != nil {
			r.stopErr = fmt.Errorf("stopping the %s registry: %w", r.Auth, err)
		}
	})
	return r.stopErr
}
