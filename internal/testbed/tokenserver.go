package testbed

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pullguard/pullguard/internal/testregistry"
)

// Account is a registry user.
type Account struct {
	Username string
	Password string
	// Push lets the account push and delete (fixtures); every valid account may pull.
	Push bool
}

// tokenServer is a Docker Hub-style token service (the "Docker Registry v2 authentication" flow):
// the registry answers 401 with a Bearer challenge naming this realm, the client asks here for a
// token for the scope it needs (with Basic credentials, or anonymously), and the registry verifies
// the JWT's signature (x5c chain to its rootcertbundle), issuer, audience (= service), expiry and
// access claims. Anonymous callers get pull on public repositories only; for a private one they
// get a token with no access, which the registry turns into 401 insufficient_scope, as Docker Hub
// does.
type tokenServer struct {
	realm    string
	service  string
	issuer   string
	signer   *ecdsa.PrivateKey
	certDER  []byte
	certPEM  []byte
	accounts map[string]Account
	public   []string
	srv      *http.Server

	mu       sync.Mutex
	requests map[string]int // by repository named in the scope
}

const tokenTTL = 5 * time.Minute

func startTokenServer(serving *TLSMaterial, service string, accounts []Account, public []string) (*tokenServer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the token signing key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "pullguard testbed token signer"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating the token signing certificate: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the token server: %w", err)
	}
	ts := &tokenServer{
		// Docker Hub's realm is another host than its registry. Here it is "localhost" while
		// the registry is "127.0.0.1": go-containerregistry (and the webhook's guard) refuse a
		// realm that is a private IP literal unless it is the registry's own host:port.
		realm:    fmt.Sprintf("https://localhost:%d/token", l.Addr().(*net.TCPAddr).Port),
		service:  service,
		issuer:   "pullguard-testbed-token-issuer",
		signer:   key,
		certDER:  der,
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		accounts: make(map[string]Account, len(accounts)),
		public:   public,
		requests: map[string]int{},
	}
	for _, a := range accounts {
		ts.accounts[a.Username] = a
	}
	ts.srv = &http.Server{
		Handler:           http.HandlerFunc(ts.serveToken),
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         serving.serverConfig(),
		ErrorLog:          testregistry.DiscardLog(),
	}
	go func() { _ = ts.srv.ServeTLS(l, "", "") }()
	return ts, nil
}

func (ts *tokenServer) close() error {
	return ts.srv.Close()
}

// count returns how many token requests named repo in their scope.
func (ts *tokenServer) count(repo string) int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.requests[repo]
}

type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

type resourceActions struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

func (ts *tokenServer) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/token" {
		http.NotFound(w, r)
		return
	}
	var (
		user, pass string
		hasCreds   bool
		scopes     []string
		service    string
	)
	switch r.Method {
	case http.MethodGet:
		user, pass, hasCreds = r.BasicAuth()
		scopes = r.URL.Query()["scope"]
		service = r.URL.Query().Get("service")
	case http.MethodPost:
		// The OAuth2 password grant containerd tries first when it holds credentials.
		if err := r.ParseForm(); err != nil {
			tokenError(w, http.StatusBadRequest, "invalid_request", "unreadable form")
			return
		}
		if r.PostForm.Get("grant_type") != "password" {
			tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only the password grant is supported")
			return
		}
		user, pass, hasCreds = r.PostForm.Get("username"), r.PostForm.Get("password"), true
		scopes = strings.Fields(r.PostForm.Get("scope"))
		service = r.PostForm.Get("service")
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if service != ts.service {
		tokenError(w, http.StatusBadRequest, "invalid_request", "unknown service")
		return
	}
	var acct *Account
	if hasCreds {
		a, ok := ts.accounts[user]
		if !ok || a.Password != pass {
			tokenError(w, http.StatusUnauthorized, "UNAUTHORIZED", "incorrect username or password")
			return
		}
		acct = &a
	}
	var access []resourceActions
	for _, s := range scopes {
		ra, ok := parseScope(s)
		if !ok {
			continue
		}
		ts.mu.Lock()
		ts.requests[ra.Name]++
		ts.mu.Unlock()
		if granted := ts.grant(acct, ra); len(granted.Actions) > 0 {
			access = append(access, granted)
		}
	}
	subject := ""
	if acct != nil {
		subject = acct.Username
	}
	now := time.Now()
	tok, err := ts.sign(subject, access, now)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "internal_error", "signing failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(tokenResponse{
		Token: tok, AccessToken: tok, ExpiresIn: int(tokenTTL / time.Second), IssuedAt: now.UTC().Format(time.RFC3339),
	})
}

// parseScope parses "repository:<name>:<actions>"; other resource types get nothing.
func parseScope(s string) (resourceActions, bool) {
	typ, rest, ok := strings.Cut(s, ":")
	if !ok || typ != "repository" {
		return resourceActions{}, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return resourceActions{}, false
	}
	return resourceActions{Type: typ, Name: rest[:i], Actions: strings.Split(rest[i+1:], ",")}, true
}

func (ts *tokenServer) grant(acct *Account, req resourceActions) resourceActions {
	out := resourceActions{Type: req.Type, Name: req.Name}
	for _, action := range req.Actions {
		var ok bool
		switch {
		case acct != nil && acct.Push:
			ok = true
		case acct != nil:
			ok = action == "pull"
		default:
			ok = action == "pull" && ts.isPublic(req.Name)
		}
		if ok && !slices.Contains(out.Actions, action) {
			out.Actions = append(out.Actions, action)
		}
	}
	return out
}

func (ts *tokenServer) isPublic(repo string) bool {
	for _, p := range ts.public {
		if repo == p || strings.HasPrefix(repo, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

// sign issues an ES256 JWT carrying the signer certificate in x5c, which the registry verifies
// against its rootcertbundle.
func (ts *tokenServer) sign(subject string, access []resourceActions, now time.Time) (string, error) {
	header := map[string]any{
		"alg": "ES256",
		"typ": "JWT",
		"x5c": []string{base64.StdEncoding.EncodeToString(ts.certDER)},
	}
	jti := make([]byte, 12)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("generating a token id: %w", err)
	}
	if access == nil {
		access = []resourceActions{}
	}
	claims := map[string]any{
		"iss":    ts.issuer,
		"sub":    subject,
		"aud":    ts.service,
		"exp":    now.Add(tokenTTL).Unix(),
		"nbf":    now.Add(-time.Second).Unix(),
		"iat":    now.Unix(),
		"jti":    base64.RawURLEncoding.EncodeToString(jti),
		"access": access,
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("encoding the token header: %w", err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding the token claims: %w", err)
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, ts.signer, digest[:])
	if err != nil {
		return "", fmt.Errorf("signing the token: %w", err)
	}
	// JWS ES256 signatures are R and S as fixed 32-byte big-endian integers (RFC 7518 §3.4).
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func tokenError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="pullguard testbed"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{})
}
