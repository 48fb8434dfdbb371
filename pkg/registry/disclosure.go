package registry

import (
	"fmt"

	"github.com/pullguard/pullguard/pkg/registry/keyring"
	"github.com/pullguard/pullguard/pkg/registry/reference"
)

// What a caller who is not trusted (Request.TrustedCaller unset) is told. The webhook reads the
// pull secrets a review names, in the namespace it names, and a forged review can name any:
// messages to such a caller must not say which of them exist, what kind they are, which
// registries their keys are for, or which of several failed. The outcome and class stay what
// the credentials decide (the decision cannot hide them), so an untrusted caller still learns
// whether the namespace's credentials can pull an image; it learns nothing else about them.

// credentialNotes returns notes that describe the pod's secrets one by one (which failed before
// the one that worked, which the kubelet skips, the keyring's account of their keys), or none
// for an untrusted caller.
func (p *probe) credentialNotes(notes ...string) []string {
	if !p.trustedCaller {
		return nil
	}
	return notes
}

// untrustedRefusal words a 401 or 403 that every candidate ended with the same whether the pod's
// secrets exist, match the registry, or hold rejected credentials: those differences are what
// the secrets reveal.
func (p *probe) untrustedRefusal(a attempt) Verdict {
	repo := p.ref.Repository
	return Verdict{
		Class: a.f.class,
		Detail: fmt.Sprintf("%s: %s refused the pull (%d): no pull secret of the pod grants pull access, or the repository does not exist; the kubelet will fail the same way",
			repo, p.ref.Domain, a.f.status),
		Fix: fmt.Sprintf("check that the pod's imagePullSecrets exist in its namespace and hold credentials with pull access to %s", repo),
	}
}

// untrustedNotFoundClause is the untrusted form of the clause a "repository not found" gets when
// the pull was anonymous: said whether or not a credential was used.
func (p *probe) untrustedNotFoundClause() (detail, fix string) {
	return "; some registries answer 404 for private repositories",
		fmt.Sprintf("; if the repository is private, check that the pod's imagePullSecrets exist and hold credentials for %s", p.ref.Domain)
}

// invalidPullSecretFor is invalidPullSecret worded for the caller: an untrusted one is not told
// which secret is malformed, nor how.
func invalidPullSecretFor(ref *reference.Reference, err error, trusted bool) Verdict {
	if trusted {
		return invalidPullSecret(ref, err)
	}
	return invalidPullSecret(ref, fmt.Errorf("an imagePullSecret of the pod cannot be decoded"))
}

// hiddenCredentialName names a credential for an untrusted caller's Verdict.Credential: whether
// one was used, not which.
func hiddenCredentialName(cred *keyring.Credential) string {
	if cred == nil || cred.Anonymous() {
		return "anonymous"
	}
	return "a pull secret of the pod"
}

// credentialName names cred for the caller.
func (p *probe) credentialName(cred *keyring.Credential) string {
	if !p.trustedCaller {
		return hiddenCredentialName(cred)
	}
	return credentialName(cred)
}
