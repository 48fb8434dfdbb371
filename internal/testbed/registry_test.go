package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// TestRegistries checks the harness itself against the real registry binary: the token service
// and htpasswd setups accept and refuse what Docker Hub and a Basic-auth registry would, and the
// front counts per repository.
func TestRegistries(t *testing.T) {
	bins, err := BinariesFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(fileTail(dir+"/token/registry.log", 3000))
		}
	})
	material, err := NewLoopbackTLS(dir + "/tls")
	if err != nil {
		t.Fatal(err)
	}
	pusher := Account{Username: "pusher", Password: "push-secret", Push: true}
	reader := Account{Username: "reader", Password: "read-secret"}
	wrong := Account{Username: "reader", Password: "not-the-password"}

	for _, auth := range []Auth{AuthToken, AuthHtpasswd} {
		t.Run(auth.String(), func(t *testing.T) {
			reg, err := StartRegistry(ctx, RegistryOptions{
				Binary: bins.Registry, Dir: dir + "/" + auth.String(), TLS: material,
				Auth: auth, Accounts: []Account{pusher, reader}, Public: []string{"demo/"},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := reg.Stop(); err != nil {
					t.Error(err)
				}
			}()
			imgs, err := PushFixtures(ctx, reg, pusher)
			if err != nil {
				t.Fatal(err)
			}
			anonymousPublic := http.StatusOK
			if auth == AuthHtpasswd {
				anonymousPublic = http.StatusUnauthorized
			}
			tests := map[string]struct {
				ref     string
				account *Account
				want    int
			}{
				"anonymous public":       {ref: imgs.Public, want: anonymousPublic},
				"anonymous private":      {ref: imgs.Private, want: http.StatusUnauthorized},
				"reader private":         {ref: imgs.Private, account: &reader},
				"wrong password private": {ref: imgs.Private, account: &wrong, want: http.StatusUnauthorized},
				"reader typo tag":        {ref: imgs.TypoTag, account: &reader, want: http.StatusNotFound},
				"reader multi":           {ref: imgs.Multi, account: &reader},
				"reader arm64 only":      {ref: imgs.ARM64Only, account: &reader},
			}
			for name, tc := range tests {
				t.Run(name, func(t *testing.T) {
					want := tc.want
					if want == 0 {
						want = http.StatusOK
					}
					if got := headStatus(ctx, t, reg, tc.ref, tc.account); got != want {
						t.Errorf("HEAD %s: got HTTP %d, want %d", tc.ref, got, want)
					}
				})
			}

			if auth == AuthToken {
				if got := anonymousChallenge(ctx, t, reg, RepoPrivate, "1.0"); !strings.Contains(got, `error="insufficient_scope"`) {
					t.Errorf("anonymous token for a private repository: got challenge %q, want insufficient_scope", got)
				}
			}

			before := reg.Requests(RepoWeb)
			if err := reg.DeleteTag(ctx, imgs.ToDelete, pusher); err != nil {
				t.Fatal(err)
			}
			if got := headStatus(ctx, t, reg, imgs.ToDelete, &reader); got != http.StatusNotFound {
				t.Errorf("deleted tag: got HTTP %d, want 404", got)
			}
			if got := headStatus(ctx, t, reg, imgs.Public, &reader); got != http.StatusOK {
				t.Errorf("tag sharing the deleted tag's digest: got HTTP %d, want 200", got)
			}
			after := reg.Requests(RepoWeb)
			if after.Manifests <= before.Manifests {
				t.Errorf("manifest requests to %s not counted: before %+v, after %+v", RepoWeb, before, after)
			}
			if auth == AuthToken && after.Tokens <= before.Tokens {
				t.Errorf("token requests for %s not counted: before %+v, after %+v", RepoWeb, before, after)
			}
			// As between a client and a registry users pull from: no HTTP/1.1 hop in the bed.
			if got := reg.UpstreamProto(); got != "HTTP/2.0" {
				t.Errorf("the front reaches the registry over %q, want HTTP/2.0", got)
			}
		})
	}
}

// headStatus HEADs a manifest as go-containerregistry does and returns the final HTTP status.
func headStatus(ctx context.Context, t *testing.T, reg *Registry, ref string, a *Account) int {
	t.Helper()
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(&http.Transport{TLSClientConfig: reg.tls.clientConfig()})}
	if a != nil {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: a.Username, Password: a.Password}))
	}
	_, err = remote.Head(r, opts...)
	if err == nil {
		return http.StatusOK
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode
	}
	t.Fatalf("HEAD %s: %v", ref, err)
	return 0
}

// anonymousChallenge fetches an anonymous token for repo from the registry's realm, as a client
// without credentials does, and returns the registry's WWW-Authenticate answer to it.
func anonymousChallenge(ctx context.Context, t *testing.T, reg *Registry, repo, tag string) string {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: reg.tls.clientConfig()}, Timeout: 5 * time.Second}
	tokURL := reg.token.realm + "?service=" + url.QueryEscape(reg.token.service) + "&scope=" + url.QueryEscape("repository:"+repo+":pull")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tokURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok tokenResponse
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("anonymous token: HTTP %d, %v", resp.StatusCode, err)
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, "https://"+reg.Host+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous GET of %s: HTTP %d, want 401", repo, resp.StatusCode)
	}
	return resp.Header.Get("WWW-Authenticate")
}
