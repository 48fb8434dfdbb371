package registry

import (
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"k8s.io/apimachinery/pkg/util/cache"
)

const (
	// maxPullers bounds the pool of authenticated pullers (one per credential and repository).
	maxPullers = 4096
	// pullerTTL is how long a puller (and the bearer token it holds) is reused. Registries'
	// tokens typically live 5 minutes (Docker Hub: 300 s); past that a reused puller would pay a
	// 401 and a token refresh, which costs the same as a new ping and token.
	pullerTTL = 5 * time.Minute
)

// pullerPool keeps one remote.Puller per (credential fingerprint, repository) so that the ping
// and the bearer token exchange happen once per scope, not once per check.
//
// How go-containerregistry v0.22.1 caches, and why this is safe with per-call deadlines:
// a Puller keeps a sync.Map from repository to a reader whose sync.Once runs makeFetcher
// (transport.NewWithContext: ping, then the first token fetch) with the context of the FIRST
// call for that repository. The resulting transport keeps no context: every later request,
// including a token refresh after a 401, runs under the context of the call that issues it
// (req.WithContext / in.Context()). So a per-call context bounds every request after the
// handshake. The one place where a context is shared is the handshake itself: concurrent first
// calls for the same repository wait on the same Once and get its error, and a failed handshake
// is forgotten (CompareAndDelete) so the next call starts afresh. The checker therefore repeats
// a call once when it joined a handshake it did not start and failed with a context error that
// is not its own (see callOwn).
//
// Keying by repository, not only by credential, keeps the pool bounded: a Puller's own map
// grows with every repository it touches and is never pruned.
type pullerPool struct {
	pullers *cache.LRUExpireCache
	options []remote.Option
	// transport is the pullers' transport with the user agent, as go-containerregistry wraps
	// it, for handshakes made outside a puller (Batch).
	transport http.RoundTripper
}

func newPullerPool(rt http.RoundTripper, userAgent string) *pullerPool {
	return &pullerPool{
		pullers:   cache.NewLRUExpireCache(maxPullers),
		transport: transport.NewUserAgent(rt, userAgent),
		options: []remote.Option{
			remote.WithTransport(rt),
			remote.WithUserAgent(userAgent),
			// Disable go-containerregistry's retry layer: retryTransport below it owns retries.
			remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
			remote.WithRetryPredicate(func(error) bool { return false }),
			remote.WithRetryStatusCodes(),
		},
	}
}

// pooledPuller is a Puller with what its user needs to know about the handshake.
type pooledPuller struct {
	*remote.Puller
	// ready is set once a call succeeded: the handshake is done and no later call can be failed
	// by the context of another.
	ready atomic.Bool
	// shared is set when the puller uses a Batch's token: its failures are not the answer.
	shared bool
}

// cached returns the pooled puller for a credential (fingerprint "" is anonymous) and
// repository, if any.
func (p *pullerPool) cached(fingerprint, repository string) (*pooledPuller, bool) {
	if v, ok := p.pullers.Get(fingerprint + "\x00" + repository); ok {
		return v.(*pooledPuller), true
	}
	return nil, false
}

// create builds and pools a puller for a credential and repository, replacing any. With
// authenticated (go-containerregistry's transport after a handshake made elsewhere) the
// puller makes no handshake of its own; batch says that handshake is a Batch's.
func (p *pullerPool) create(fingerprint, repository string, auth authn.Authenticator, authenticated http.RoundTripper, batch bool) (*pooledPuller, error) {
	opts := append(slices.Clip(p.options), remote.WithAuth(auth))
	if authenticated != nil {
		opts = append(opts, remote.WithTransport(authenticated))
	}
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	// Two concurrent first calls may both create a puller; the last one stored wins and the
	// other is used once and dropped, which costs one extra handshake and nothing else.
	pp := &pooledPuller{Puller: puller, shared: batch}
	pp.ready.Store(authenticated != nil)
	p.pullers.Add(fingerprint+"\x00"+repository, pp, pullerTTL)
	return pp, nil
}
