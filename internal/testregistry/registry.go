// Package testregistry runs fake container registries on loopback for tests and benchmarks: the
// go-containerregistry in-process registry behind a TLS server that adds the authentication
// schemes and failure modes real registries show (Basic auth, a Docker-Hub-like Bearer token flow,
// registries that hide private repositories behind 404, 429 with Retry-After, 503, hangs), and
// counts the requests it receives by kind.
//
// Its fault front is the one every test shares: Faults (the failure modes, as a handler
// wrapper), Front (the loopback TLS server) and Proxy (a front before a real registry) also
// serve internal/testbed's counting front before the CNCF Distribution registry and
// internal/bench's fault fronts; Silent is the registry that accepts and never answers. Its CA
// is certs/selfca's.
//
// It is an ordinary (non-test) package so that e2e and benchmark packages can import it; it
// only ever listens on 127.0.0.1.
package testregistry

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// Kind classifies a request received by a Registry.
type Kind string

// Request kinds counted by a Registry.
const (
	KindPing         Kind = "ping"
	KindToken        Kind = "token"
	KindManifestHead Kind = "manifest_head"
	KindManifestGet  Kind = "manifest_get"
	KindOther        Kind = "other"
)

var kinds = []Kind{KindPing, KindToken, KindManifestHead, KindManifestGet, KindOther}

// Auth is the authentication scheme a Registry demands.
type Auth int

const (
	// AuthNone serves everything to everyone.
	AuthNone Auth = iota
	// AuthBasic challenges with Basic on /v2/ and checks the Authorization header on every request.
	AuthBasic
	// AuthBearer implements the Docker token flow: /v2/ answers 401 with a Bearer challenge whose
	// realm is this server's /token endpoint; the token endpoint checks the password and grants
	// only the requested scopes the caller may read (anonymous callers get a token without access,
	// as Docker Hub does); repository requests need a token granting that repository.
	AuthBearer
)

// Config describes a fake registry.
type Config struct {
	Auth Auth
	// Users maps user names to passwords.
	Users map[string]string
	// Public lists repositories (e.g. "library/nginx") anyone may pull without credentials.
	Public []string
	// Grants restricts what a user may pull: user → repositories. A user without an entry may pull
	// every repository.
	Grants map[string][]string
	// Deny is the status answered when the caller may not pull a repository: 401 (default, with a
	// challenge and, for Bearer, error="insufficient_scope"), 403 DENIED, or 404 NAME_UNKNOWN (a
	// registry that hides private repositories).
	Deny int
	// Hosts are extra DNS names for the serving certificate (the server also answers for
	// 127.0.0.1, ::1 and localhost).
	Hosts []string
	// CA signs the serving certificate (nil: a new CA).
	CA *CA
	// Service is the Bearer challenge's service parameter (default "testregistry").
	Service string
	// FirstScopeOnly makes the token endpoint read only the first scope of a request, as some
	// token services do: a token asked for several repositories grants at most the first.
	FirstScopeOnly bool
	// OpenPing answers the /v2/ ping with 200 to anyone, while repositories still demand the
	// configured authentication: a registry whose API root is public. containerd never pings; it
	// meets the challenge on the manifest request itself.
	OpenPing bool
	// HTTP2 offers HTTP/2 next to HTTP/1.1 (FrontConfig.HTTP2); without it the registry speaks
	// HTTP/1.1 only, so concurrent requests each need a connection of their own.
	HTTP2 bool
}

// Registry is a running fake registry.
type Registry struct {
	cfg     Config
	backend http.Handler
	front   *Front
	faults  *Faults
	once    sync.Once

	// CA signed the serving certificate; clients must trust it.
	CA *CA
	// Addr is "127.0.0.1:port".
	Addr string
	// Port is the listening port.
	Port string

	counts map[Kind]*atomic.Int64
	// inFlight and maxInFlight measure concurrent requests.
	inFlight, maxInFlight atomic.Int64

	mu     sync.Mutex
	tokens map[string]map[string]bool // token → repositories it grants
	// namespaces are the ?ns= values of the /v2/ requests, as a mirror sees them.
	namespaces map[string]bool
}

// Namespaces returns the distinct ?ns= values the registry's /v2/ requests carried.
func (r *Registry) Namespaces() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.namespaces))
}

// New starts a fake registry on 127.0.0.1 with TLS.
func New(cfg Config) (*Registry, error) {
	ca := cfg.CA
	if ca == nil {
		var err error
		if ca, err = NewCA(); err != nil {
			return nil, err
		}
	}
	cert, err := ca.ServerCertificate(cfg.Hosts...)
	if err != nil {
		return nil, err
	}
	if cfg.Service == "" {
		cfg.Service = "testregistry"
	}
	r := &Registry{
		cfg:     cfg,
		backend: ggcrregistry.New(ggcrregistry.Logger(DiscardLog())),
		faults:  NewFaults(),
		CA:      ca,
		counts:  make(map[Kind]*atomic.Int64, len(kinds)),
		tokens:  map[string]map[string]bool{},
	}
	for _, k := range kinds {
		r.counts[k] = new(atomic.Int64)
	}
	// Every request is counted, faulted or not; the fault comes before authentication, as a
	// failing registry's load balancer does.
	front, err := StartFront(r.observe(r.faults.Handler(http.HandlerFunc(r.serveHTTP))), FrontConfig{
		TLS:   &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		HTTP2: cfg.HTTP2,
	})
	if err != nil {
		return nil, err
	}
	r.front, r.Addr, r.Port = front, front.Addr, front.Port
	return r, nil
}

// Close stops the registry, releasing hanging requests first.
func (r *Registry) Close() {
	r.once.Do(func() {
		r.faults.Close()
		r.front.Close()
	})
}

// Count returns how many requests of kind k the registry received.
func (r *Registry) Count(k Kind) int64 { return r.counts[k].Load() }

// Counts returns every counter.
func (r *Registry) Counts() map[Kind]int64 {
	out := make(map[Kind]int64, len(kinds))
	for _, k := range kinds {
		out[k] = r.counts[k].Load()
	}
	return out
}

// ResetCounts sets every counter, and the in-flight maximum, to zero.
func (r *Registry) ResetCounts() {
	for _, k := range kinds {
		r.counts[k].Store(0)
	}
	r.maxInFlight.Store(0)
}

// MaxInFlight returns the largest number of requests the registry was serving at once.
func (r *Registry) MaxInFlight() int64 { return r.maxInFlight.Load() }

// SetFault makes the registry misbehave from now on; the zero Fault restores normal service.
func (r *Registry) SetFault(f Fault) { r.faults.Set(f) }

func kindOf(req *http.Request) Kind {
	switch {
	case req.URL.Path == "/v2/" || req.URL.Path == "/v2":
		return KindPing
	case req.URL.Path == "/token":
		return KindToken
	case strings.Contains(req.URL.Path, "/manifests/") && req.Method == http.MethodHead:
		return KindManifestHead
	case strings.Contains(req.URL.Path, "/manifests/") && req.Method == http.MethodGet:
		return KindManifestGet
	}
	return KindOther
}

// observe counts each request by kind, records its ?ns= and measures concurrency.
func (r *Registry) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		kind := kindOf(req)
		r.counts[kind].Add(1)
		if ns := req.URL.Query().Get("ns"); ns != "" && kind != KindToken {
			r.mu.Lock()
			if r.namespaces == nil {
				r.namespaces = map[string]bool{}
			}
			r.namespaces[ns] = true
			r.mu.Unlock()
		}
		n := r.inFlight.Add(1)
		defer r.inFlight.Add(-1)
		for {
			m := r.maxInFlight.Load()
			if n <= m || r.maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		next.ServeHTTP(w, req)
	})
}

// serveHTTP authenticates and serves a request.
func (r *Registry) serveHTTP(w http.ResponseWriter, req *http.Request) {
	kind := kindOf(req)
	if kind == KindToken {
		if r.cfg.Auth != AuthBearer {
			WriteError(w, http.StatusNotFound, "NOT_FOUND", "no token service here")
			return
		}
		r.serveToken(w, req)
		return
	}

	switch r.cfg.Auth {
	case AuthBasic:
		user, ok, present := r.basicUser(req)
		if present && !ok {
			r.challengeBasic(w)
			return
		}
		if kind == KindPing {
			if !present && !r.cfg.OpenPing {
				r.challengeBasic(w)
				return
			}
			break
		}
		if repo := repository(req.URL.Path); !r.allowed(user, repo) {
			r.deny(w, req, repo)
			return
		}
	case AuthBearer:
		grant, ok := r.bearerGrant(req)
		if kind == KindPing {
			if !ok && !r.cfg.OpenPing {
				r.challengeBearer(w, req, "", "")
				return
			}
			break
		}
		if repo := repository(req.URL.Path); !grant[repo] {
			r.deny(w, req, repo)
			return
		}
	}
	r.backend.ServeHTTP(w, req)
}

// repository extracts the repository name from /v2/<name>/{manifests,blobs,tags}/...
func repository(path string) string {
	p := strings.TrimPrefix(path, "/v2/")
	for _, sep := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
		if i := strings.LastIndex(p, sep); i >= 0 {
			return p[:i]
		}
	}
	return p
}

func (r *Registry) allowed(user, repo string) bool {
	if user == "" {
		for _, p := range r.cfg.Public {
			if p == repo {
				return true
			}
		}
		return false
	}
	grants, restricted := r.cfg.Grants[user]
	if !restricted {
		return true
	}
	for _, g := range grants {
		if g == repo {
			return true
		}
	}
	return false
}

// basicUser returns the authenticated user ("" when anonymous), whether the credentials are
// valid, and whether any were sent.
func (r *Registry) basicUser(req *http.Request) (user string, ok, present bool) {
	u, p, has := req.BasicAuth()
	if !has {
		return "", true, req.Header.Get("Authorization") != ""
	}
	want, known := r.cfg.Users[u]
	if !known || want != p {
		return "", false, true
	}
	return u, true, true
}

func (r *Registry) challengeBasic(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="testregistry"`)
	WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
}

func (r *Registry) challengeBearer(w http.ResponseWriter, req *http.Request, repo, errCode string) {
	c := fmt.Sprintf(`Bearer realm="https://%s/token",service=%q`, req.Host, r.cfg.Service)
	if repo != "" {
		c += fmt.Sprintf(`,scope="repository:%s:pull"`, repo)
	}
	if errCode != "" {
		c += fmt.Sprintf(`,error=%q`, errCode)
	}
	w.Header().Set("WWW-Authenticate", c)
	WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
}

func (r *Registry) deny(w http.ResponseWriter, req *http.Request, repo string) {
	switch r.cfg.Deny {
	case http.StatusForbidden:
		WriteError(w, http.StatusForbidden, "DENIED", "requested access to the resource is denied")
	case http.StatusNotFound:
		WriteError(w, http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
	default:
		if r.cfg.Auth == AuthBearer {
			r.challengeBearer(w, req, repo, "insufficient_scope")
			return
		}
		r.challengeBasic(w)
	}
}

func (r *Registry) bearerGrant(req *http.Request) (map[string]bool, bool) {
	tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	grant, ok := r.tokens[tok]
	return grant, ok
}

// serveToken is the token endpoint: it checks the password (401 on a wrong one, like Docker
// Hub) and grants only the requested repositories the caller may pull.
func (r *Registry) serveToken(w http.ResponseWriter, req *http.Request) {
	user, ok, _ := r.basicUser(req)
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"details":"incorrect username or password"}`)
		return
	}
	if req.URL.Query().Get("service") != r.cfg.Service {
		WriteError(w, http.StatusBadRequest, "DENIED", "unknown service")
		return
	}
	grant := map[string]bool{}
	var scopes []string
	for _, s := range req.URL.Query()["scope"] {
		scopes = append(scopes, strings.Fields(s)...)
	}
	if r.cfg.FirstScopeOnly && len(scopes) > 1 {
		scopes = scopes[:1]
	}
	for _, scope := range scopes {
		rest, ok := strings.CutPrefix(scope, "repository:")
		if !ok {
			continue
		}
		i := strings.LastIndex(rest, ":")
		if i < 0 || !strings.Contains(rest[i+1:], "pull") {
			continue
		}
		if repo := rest[:i]; r.allowed(user, repo) {
			grant[repo] = true
		}
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	r.mu.Lock()
	r.tokens[tok] = grant
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 300})
}
