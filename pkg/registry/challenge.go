package registry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// lateChallenge is a Bearer challenge a registry sent on a repository request that carried no
// bearer token.
//
// go-containerregistry decides how to authenticate once, from the /v2/ ping: a 200 or a Basic
// challenge there gives a transport that never fetches a token. containerd never pings: it
// sends the manifest request and answers whatever challenge comes back, fetching a token when
// it is a Bearer one. So a registry whose API root is open (or a ping answered by something
// else than the registry, or a pooled puller older than a registry's change of scheme) and whose
// repositories want a token is pulled fine by the nodes but refused with a 401 here. The 401's
// challenge is kept (upstreamTransport) so that the probe can handshake as containerd would
// (probeCredential) instead of refusing a pullable image.
type lateChallenge struct {
	scheme, host string
	header       []string
}

// noteChallenge keeps the challenge of a 401 to a repository request sent without a bearer
// token: one a bearer transport sent was already answered by go-containerregistry's own token
// refresh, so its 401 is the registry's last word.
func noteChallenge(req *http.Request, resp *http.Response) {
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(req.URL.Path, "/v2/") || req.URL.Path == "/v2/" {
		return
	}
	if isBearer(req.Header.Get("Authorization")) {
		return
	}
	header := resp.Header.Values("WWW-Authenticate")
	for _, h := range header {
		if isBearer(h) {
			if tr := traceFrom(req.Context()); tr != nil {
				tr.setChallenge(&lateChallenge{scheme: req.URL.Scheme, host: req.URL.Host, header: header})
			}
			return
		}
	}
}

// isBearer reports whether an Authorization or WWW-Authenticate value is of the Bearer scheme
// (scheme names are case-insensitive, RFC 9110 §11.1).
func isBearer(v string) bool {
	const scheme = "bearer "
	return len(v) >= len(scheme) && strings.EqualFold(v[:len(scheme)], scheme)
}

// handshake returns go-containerregistry's authenticated transport for repo as if the ping had
// answered with the challenge: the challenge is parsed, and the token fetched, by
// transport.NewWithContext itself.
func (ch *lateChallenge) handshake(ctx context.Context, repo name.Repository, auth authn.Authenticator, rt http.RoundTripper) (http.RoundTripper, error) {
	return transport.NewWithContext(ctx, repo.Registry, auth, &challengeReplay{challenge: ch, inner: rt}, []string{repo.Scope(transport.PullScope)})
}

// errOtherScheme refuses the ping go-containerregistry tries with the scheme the registry was
// not asked with (its http fallback for local-looking names): the challenge came over the other.
var errOtherScheme = errors.New("registry: the challenge was received over another scheme")

// challengeReplay answers the /v2/ ping of a handshake with the kept challenge and passes every
// other request (the token's) on.
type challengeReplay struct {
	challenge *lateChallenge
	inner     http.RoundTripper
}

func (r *challengeReplay) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path != "/v2/" || req.URL.Host != r.challenge.host {
		return r.inner.RoundTrip(req)
	}
	if req.URL.Scheme != r.challenge.scheme {
		return nil, errOtherScheme
	}
	return &http.Response{
		Status:     "401 Unauthorized",
		StatusCode: http.StatusUnauthorized,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{"Www-Authenticate": r.challenge.header},
		Body:       io.NopCloser(strings.NewReader("")),
		Request:    req,
	}, nil
}
