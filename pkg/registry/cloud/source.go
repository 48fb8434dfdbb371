package cloud

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/pullguard/pullguard/pkg/registry/egress"
)

// Credential is what a provider's token exchange gave the webhook for one registry host.
type Credential struct {
	Username, Password string
	// Expires is when the registry stops accepting it.
	Expires time.Time
}

// Provider is one cloud's credential source.
type Provider interface {
	// Name names the provider and the identity in messages ("ECR").
	Name() string
	// Scope returns the token scope of a canonical registry host (no port): one token serves
	// every host of a scope (for ECR, one account in one region). ok is false for any host that
	// is not exactly one of the provider's.
	Scope(host string) (scope string, ok bool)
	// Fetch makes the token exchange for a scope Scope returned.
	Fetch(ctx context.Context, host, scope string) (Credential, error)
}

// IdentityError is a failed token exchange of the webhook's own identity: the registry was not
// asked, and nothing is known about the image.
type IdentityError struct {
	Provider string
	Err      error
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("%s: the webhook's identity got no registry token: %s", e.Provider, oneLine(e.Err.Error()))
}

// oneLine folds an SDK's multi-line error report (azcore's ResponseError frames the response
// in rules of dashes) into one line: a verdict's message is one line.
func oneLine(s string) string {
	words := strings.Fields(s)
	kept := words[:0]
	for _, w := range words {
		if strings.Trim(w, "-") != "" {
			kept = append(kept, w)
		}
	}
	return strings.Join(kept, " ")
}

func (e *IdentityError) Unwrap() error { return e.Err }

// refreshMargin is how long before its expiry a cached credential is replaced: a check must not
// start with a token that ends in the middle of it.
const refreshMargin = 5 * time.Minute

// Sources holds the enabled providers, caches their credentials until refreshMargin before
// expiry and coalesces concurrent exchanges: a burst of admissions makes one token request per
// provider and scope. Safe for concurrent use.
type Sources struct {
	providers []Provider
	now       func() time.Time
	flights   singleflight.Group
	mu        sync.Mutex
	cache     map[string]Credential
}

// NewSources returns the sources for providers (none: Lookup never matches).
func NewSources(now func() time.Time, providers ...Provider) *Sources {
	if now == nil {
		now = time.Now
	}
	return &Sources{providers: providers, now: now, cache: map[string]Credential{}}
}

// Match returns the provider of a registry (host[:port] as images name it), or nil. A registry
// with a port is nobody's: the clouds' registries serve on 443 only.
func (s *Sources) Match(registry string) (Provider, string) {
	if s == nil {
		return nil, ""
	}
	host := egress.CanonicalHost(registry)
	for _, p := range s.providers {
		if scope, ok := p.Scope(host); ok {
			return p, scope
		}
	}
	return nil, ""
}

// Lookup returns the credential of registry's provider, from the cache or a new exchange. ok is
// false when no provider matches; a failed exchange is an *IdentityError.
func (s *Sources) Lookup(ctx context.Context, registry string) (Credential, Provider, bool, error) {
	p, scope := s.Match(registry)
	if p == nil {
		return Credential{}, nil, false, nil
	}
	key := p.Name() + "\x00" + scope
	s.mu.Lock()
	c, hit := s.cache[key]
	s.mu.Unlock()
	if hit && s.now().Before(c.Expires.Add(-refreshMargin)) {
		return c, p, true, nil
	}
	// The exchange runs detached from the first caller's cancellation (its deadline still
	// applies through the provider's own timeout) so that one caller giving up does not fail
	// every other caller waiting on it.
	v, err, _ := s.flights.Do(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exchangeTimeout)
		defer cancel()
		c, err := p.Fetch(fctx, egress.CanonicalHost(registry), scope)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.cache[key] = c
		s.mu.Unlock()
		return c, nil
	})
	if err != nil {
		return Credential{}, p, true, &IdentityError{Provider: p.Name(), Err: err}
	}
	return v.(Credential), p, true, nil
}

// Forget drops the cached credential of registry's scope, after the registry refused it.
func (s *Sources) Forget(registry string) {
	p, scope := s.Match(registry)
	if p == nil {
		return
	}
	s.mu.Lock()
	delete(s.cache, p.Name()+"\x00"+scope)
	s.mu.Unlock()
}

// exchangeTimeout bounds one token exchange, SDK retries included.
const exchangeTimeout = 10 * time.Second
