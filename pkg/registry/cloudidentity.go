package registry

import (
	"context"
	"net/http"
	"slices"

	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// cloudCredential gets the webhook's own credential for a cloud registry no pull secret
// matched (Options.Cloud). When the exchange fails, the verdict says so: the image is not
// in question.
func (c *Checker) cloudCredential(ctx context.Context, p *probe) (*keyring.Credential, Verdict, bool) {
	cc, provider, _, err := c.cloud.Lookup(ctx, p.ref.Domain)
	if err != nil {
		return nil, cloudIdentityFailed(p.ref, provider.Name(), err), false
	}
	cred := &keyring.Credential{Username: cc.Username, Password: cc.Password, Source: cloudSource(provider.Name()), Key: p.ref.Domain}
	p.cloudCred = cred
	// Registry answers copied into messages must not carry the token.
	p.redact = newRedactor(append(slices.Clone(p.creds), *cred))
	return cred, Verdict{}, true
}

// hostCredential is the credential sent to host h: the webhook's cloud credential only ever goes
// to a host of its provider's (a mirror of the registry gets none, the anonymous pull), whatever
// else is configured. Redirects cannot carry it further: go-containerregistry authenticates only
// requests to the host it was built for.
func (c *Checker) hostCredential(p *probe, cred *keyring.Credential, h probeHost) *keyring.Credential {
	if cred == nil || cred != p.cloudCred {
		return cred
	}
	if provider, _ := c.cloud.Match(h.ref.Context().RegistryStr()); provider != p.cloud {
		return nil
	}
	return cred
}

// cloudRefused is the verdict when the registry refused the webhook's own identity (401, 403):
// its permission is the problem, never the image. A refused token is dropped from the cache, so
// the next check exchanges a new one.
func (c *Checker) cloudRefused(p *probe, a attempt) Verdict {
	if a.f.status == http.StatusUnauthorized {
		c.cloud.Forget(p.ref.Domain)
	}
	return cloudIdentityRefused(p.ref, p.cloud.Name(), a)
}
