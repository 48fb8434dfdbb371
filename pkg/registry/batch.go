package registry

import (
	"context"
	"net/http"
	"slices"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/pullguard/pullguard/pkg/registry/keyring"
	"github.com/pullguard/pullguard/pkg/registry/reference"
)

// Batch is the images of one admission. On a cache miss, a check of a repository whose first
// candidate credential is also the first candidate of other repositories of the batch on the
// same registry asks for one token with a scope per repository (the distribution token
// protocol allows repeated scope parameters), after one /v2/ ping, shared by all of them.
//
// A shared token never decides a failure: a check that fails through it for any reason the
// token could cause (401, 403, 404, a token service error) is repeated with its own handshake,
// as without a batch, so that a token service that honours only some of the scopes (some read
// only the first) costs requests, never a different verdict.
type Batch struct {
	images  []string
	keyring *keyring.Keyring

	once   sync.Once
	scopes map[sessionKey][]string

	mu       sync.Mutex
	sessions map[sessionKey]*session
}

// NewBatch returns the batch of images checked with kr (a nil kr: anonymous pulls).
func NewBatch(images []string, kr *keyring.Keyring) *Batch {
	return &Batch{images: images, keyring: kr}
}

// sessionKey is a registry and a credential fingerprint ("": anonymous).
type sessionKey struct{ registry, fingerprint string }

// session is one shared handshake: rt is go-containerregistry's authenticated transport (a
// *transport.Wrapper, which pullers built on it use without a handshake of their own), nil
// when the handshake failed.
type session struct {
	done chan struct{}
	rt   http.RoundTripper
}

// index groups the batch's repositories by registry and first candidate credential, once.
func (b *Batch) index(c *Checker) {
	b.once.Do(func() {
		b.scopes = map[sessionKey][]string{}
		for _, image := range b.images {
			ref, err := reference.Parse(image)
			if err != nil || ref.UppercaseHost() {
				continue
			}
			up, err := c.upstream(ref)
			if err != nil {
				continue
			}
			fp := ""
			if creds := b.keyring.Lookup(*c.keyringRepo(ref.Repository)); len(creds) > 0 && !creds[0].Anonymous() {
				fp = creds[0].Fingerprint()
			}
			k := sessionKey{registry: up.Context().RegistryStr(), fingerprint: fp}
			scope := up.Context().Scope(transport.PullScope)
			if s := b.scopes[k]; !slices.Contains(s, scope) && len(s) < c.opts.MaxSharedScopes {
				b.scopes[k] = append(s, scope)
			}
		}
	})
}

// transport returns the shared authenticated transport for repo with a credential, or nil when
// the check should handshake alone: the repository shares its registry and credential with no
// other of the batch, or the shared handshake failed, or ctx ended while waiting for it.
func (b *Batch) transport(ctx context.Context, c *Checker, repo name.Repository, fingerprint string, auth authn.Authenticator) http.RoundTripper {
	b.index(c)
	k := sessionKey{registry: repo.RegistryStr(), fingerprint: fingerprint}
	scopes := b.scopes[k]
	if len(scopes) < 2 || !slices.Contains(scopes, repo.Scope(transport.PullScope)) {
		return nil
	}
	b.mu.Lock()
	if b.sessions == nil {
		b.sessions = map[sessionKey]*session{}
	}
	s, ok := b.sessions[k]
	if !ok {
		s = &session{done: make(chan struct{})}
		b.sessions[k] = s
	}
	b.mu.Unlock()
	if !ok {
		// Errors are not kept: every check then handshakes alone and meets the failure, if it
		// lasts, as it would without a batch.
		if rt, err := transport.NewWithContext(ctx, repo.Registry, auth, c.pullers.transport, scopes); err == nil {
			s.rt = rt
		}
		close(s.done)
	}
	select {
	case <-s.done:
		return s.rt
	case <-ctx.Done():
		return nil
	}
}
