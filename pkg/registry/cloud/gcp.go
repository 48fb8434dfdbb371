package cloud

import (
	"context"
	"net/http"
	"regexp"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/google"
	"golang.org/x/oauth2"
	googauth "golang.org/x/oauth2/google"
)

// gcpHost is the host pattern of the kubelet's GCP credential provider (matchImages gcr.io,
// *.gcr.io, container.cloud.google.com, *.pkg.dev), one label deep as the kubelet's globs are:
// Artifact Registry's LOCATION-docker.pkg.dev and GCR's regional hosts (eu.gcr.io).
var gcpHost = regexp.MustCompile(`^(gcr\.io|[a-z0-9-]+\.gcr\.io|container\.cloud\.google\.com|[a-z0-9-]+\.pkg\.dev)$`)

// gcpScope is the OAuth scope of go-containerregistry's Google keychain.
const gcpScope = "https://www.googleapis.com/auth/cloud-platform"

// gcpDefaultLifetime is how long a token without an expiry is kept: Google access tokens last
// one hour.
const gcpDefaultLifetime = time.Hour

// GCP is the provider for Artifact Registry and GCR, through application default credentials
// (GOOGLE_APPLICATION_CREDENTIALS, including Workload Identity Federation files; the gcloud
// well-known file; the GCE/GKE metadata server, which is GKE Workload Identity) as
// go-containerregistry's Google keychain reads them, without its gcloud fallback: the webhook
// runs no binaries.
type GCP struct {
	// httpClient replaces the HTTP client of the token_uri exchanges (tests: one that only
	// dials loopback). The metadata server is reached by its own package's client, at
	// GCE_METADATA_HOST when set.
	httpClient *http.Client
	now        func() time.Time
}

// NewGCP returns the GCP provider.
func NewGCP(httpClient *http.Client, now func() time.Time) *GCP {
	if now == nil {
		now = time.Now
	}
	return &GCP{httpClient: httpClient, now: now}
}

// Name is the identity's name in messages.
func (*GCP) Name() string { return "GCP" }

// Scope is one for every host: the token is the identity's, valid for every Google registry.
func (*GCP) Scope(host string) (string, bool) {
	if !gcpHost.MatchString(host) {
		return "", false
	}
	return "adc", true
}

// Fetch gets an access token from application default credentials and turns it into the
// registry login of go-containerregistry's Google authenticator.
func (g *GCP) Fetch(ctx context.Context, _, _ string) (Credential, error) {
	if g.httpClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, g.httpClient)
	}
	start := g.now()
	ts, err := googauth.DefaultTokenSource(ctx, gcpScope)
	if err != nil {
		return Credential{}, err
	}
	tok, err := ts.Token()
	if err != nil {
		return Credential{}, err
	}
	login, err := google.NewTokenSourceAuthenticator(oauth2.StaticTokenSource(tok)).Authorization()
	if err != nil {
		return Credential{}, err
	}
	expires := tok.Expiry
	if expires.IsZero() {
		expires = start.Add(gcpDefaultLifetime)
	}
	return Credential{Username: login.Username, Password: login.Password, Expires: expires}, nil
}
