package registry

import (
	"fmt"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// Outcome is the engine's answer to "will the kubelet be able to pull this image?".
type Outcome int

const (
	// Pullable: the registry served the manifest with the credentials the kubelet would use,
	// and (when candidate platforms were given) an entry the nodes can run.
	Pullable Outcome = iota + 1
	// NotPullable: the kubelet will fail for a reason the engine observed with certainty.
	NotPullable
	// Unverifiable: the engine cannot know (rate limit, outage, DNS, TLS, timeout, node-only
	// credentials, blocked address). Callers must not treat this as a refusal by default.
	Unverifiable
)

func (o Outcome) String() string {
	switch o {
	case Pullable:
		return "pullable"
	case NotPullable:
		return "not_pullable"
	case Unverifiable:
		return "unverifiable"
	}
	return "unknown"
}

// Class names why a verdict is what it is. The values are a closed set: they are used as
// Prometheus label values and in audit annotations, so never build one from input.
type Class string

const (
	ClassOK                   Class = "ok"
	ClassInvalidReference     Class = "invalid_reference"
	ClassInvalidPullSecret    Class = "invalid_pull_secret"
	ClassTagNotFound          Class = "tag_not_found"
	ClassDigestNotFound       Class = "digest_not_found"
	ClassRepositoryNotFound   Class = "repository_not_found"
	ClassUnauthorized         Class = "unauthorized"
	ClassCredentialsRejected  Class = "credentials_rejected"
	ClassForbidden            Class = "forbidden"
	ClassPlatformMissing      Class = "platform_missing"
	ClassUnsupportedMediaType Class = "unsupported_media_type"
	ClassUnsupportedDigest    Class = "unsupported_digest"
	ClassRateLimited          Class = "rate_limited"
	ClassRegistryUnavailable  Class = "registry_unavailable"
	ClassDNSFailure           Class = "dns_failure"
	ClassTLSFailure           Class = "tls_failure"
	ClassTimeout              Class = "timeout"
	ClassBlocked              Class = "blocked_by_network_policy"
	ClassInvalidResponse      Class = "invalid_response"
	ClassNodeCredentials      Class = "node_credentials"
	// ClassCloudIdentity: the webhook's own cloud identity (Options.Cloud) got no token or was
	// refused; nothing is known about the image.
	ClassCloudIdentity Class = "cloud_identity"
)

// Classes lists every Class, for metrics initialisation and tests.
var Classes = []Class{
	ClassOK, ClassInvalidReference, ClassInvalidPullSecret, ClassTagNotFound, ClassDigestNotFound,
	ClassRepositoryNotFound, ClassUnauthorized, ClassCredentialsRejected, ClassForbidden,
	ClassPlatformMissing, ClassUnsupportedMediaType, ClassUnsupportedDigest, ClassRateLimited,
	ClassRegistryUnavailable, ClassDNSFailure, ClassTLSFailure, ClassTimeout, ClassBlocked,
	ClassInvalidResponse, ClassNodeCredentials, ClassCloudIdentity,
}

// Request is one image to check, with what the kubelet would pull it with.
type Request struct {
	// Image is the reference exactly as written in the pod spec.
	Image string
	// Keyring holds the credentials the kubelet would try, matched by its rules: a pod's pull
	// secrets in pod order (keyring.FromSecrets), or for a program outside the cluster a Docker
	// config file (keyring.FromDockerConfig) or explicit entries (keyring.FromEntries). nil: none,
	// the pull is anonymous.
	Keyring *keyring.Keyring
	// Platforms are the candidate nodes' platforms. Empty skips the platform check.
	Platforms []ocispec.Platform
	// TrustedCaller is set when whoever asks may learn what the credentials reveal: the
	// admission webhook's caller was authenticated as the API server, or the CLI's user holds
	// the secrets. Without it, the tag hint, which lists tags of a possibly private repository,
	// is given only when the tags were read anonymously.
	TrustedCaller bool
	// Batch is the set of images asked together with this one (one admission's pod), built once
	// by NewBatch with the same Keyring: the checks of its repositories on one registry with one
	// credential share one /v2/ ping and one token request. nil: the check handshakes alone.
	Batch *Batch
}

// Verdict is the engine's answer for one image.
type Verdict struct {
	Outcome Outcome
	Class   Class
	// Image is the reference as written; Reference the normalised one the runtime pulls.
	Image     string
	Reference string
	// Digest the reference resolved to (Pullable only).
	Digest string
	// Platforms are the candidate platforms the image offers (Pullable with a platform check).
	Platforms []string
	// Credential says what worked: `imagePullSecret "regcred" (key "docker.io")` or "anonymous".
	Credential string
	// Detail is one line naming the registry/repository/tag and the cause the kubelet would hit.
	Detail string
	// Fix is one line telling the user what to change ("" when there is nothing to change).
	Fix string
	// SimilarTags are the existing tags a typo away from a tag not found, for programs that
	// turn Fix into a command (pullguard explain's kubectl set image).
	SimilarTags []string
	// Notes are findings that do not change the outcome (tag ignored because a digest is given,
	// a rejected credential before the one that worked, platforms only some nodes can run).
	Notes []string
	// RetryAfter is how long a registry that answered 429 asked its callers to wait (its
	// Retry-After header; 0 when it sent none or one that is not a delay or a date).
	RetryAfter time.Duration
	// Cached is true when the verdict came from the cache without a registry round trip.
	Cached bool
}

// Message is Detail and Fix on one line.
func (v Verdict) Message() string {
	if v.Fix == "" {
		return v.Detail
	}
	return v.Detail + "; " + v.Fix
}

// TimeoutVerdict is the verdict for an image whose check did not finish in time: Unverifiable,
// so that the caller's Unverifiable decision applies rather than a timeout of its own caller.
// budget is the time the check was given, for the message (0: not known).
func TimeoutVerdict(image string, budget time.Duration) Verdict {
	detail := fmt.Sprintf("image %q not verified: the registry check did not finish before its deadline", image)
	if budget > 0 {
		detail = fmt.Sprintf("image %q not verified: the registry check did not finish within the %s admission budget", image, budget.Round(time.Millisecond))
	}
	return Verdict{Outcome: Unverifiable, Class: ClassTimeout, Image: image, Detail: detail}
}
