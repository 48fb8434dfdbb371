package nodeerror

import "strings"

// Cause is why the node failed to pull an image, as far as its own text tells.
type Cause string

const (
	CauseNotFound      Cause = "not_found"
	CauseUnauthorized  Cause = "unauthorized"
	CauseDNS           Cause = "dns"
	CauseTLS           Cause = "tls"
	CauseConnection    Cause = "connection"
	CauseRateLimited   Cause = "rate_limited"
	CausePlatform      Cause = "platform_missing"
	CauseNeverPull     Cause = "never_pull"
	CauseInvalidName   Cause = "invalid_name"
	CauseInspectFailed Cause = "inspect_failed"
	CauseUnknown       Cause = "unknown"
)

// The kubelet's container waiting reasons for an image it could not get
// (pkg/kubelet/images/types.go).
const (
	ReasonErrImagePull      = "ErrImagePull"
	ReasonImagePullBackOff  = "ImagePullBackOff"
	ReasonInvalidImageName  = "InvalidImageName"
	ReasonErrImageNeverPull = "ErrImageNeverPull"
	ReasonImageInspectError = "ImageInspectError"
)

// The kubelet's Event reasons about image pulls (pkg/kubelet/events/event.go).
const (
	EventFailed            = "Failed"
	EventBackOff           = "BackOff"
	EventInspectFailed     = "InspectFailed"
	EventErrImageNeverPull = "ErrImageNeverPull"
)

// IsImageReason reports whether a container waiting reason is one of the kubelet's image
// failures.
func IsImageReason(reason string) bool {
	switch reason {
	case ReasonErrImagePull, ReasonImagePullBackOff, ReasonInvalidImageName, ReasonErrImageNeverPull, ReasonImageInspectError:
		return true
	}
	return false
}

// Describe is the cause in plain words.
func (c Cause) Describe() string {
	switch c {
	case CauseNotFound:
		return "the registry told the node the image does not exist (no such repository, tag or digest)"
	case CauseUnauthorized:
		return "the registry refused the node's credentials, or the node had none for a private image"
	case CauseDNS:
		return "the node could not resolve the registry's host name"
	case CauseTLS:
		return "the node did not accept the registry's TLS certificate (or the registry does not speak TLS)"
	case CauseConnection:
		return "the node could not connect to the registry (refused, reset or timed out)"
	case CauseRateLimited:
		return "the registry rate-limited the node (429 Too Many Requests)"
	case CausePlatform:
		return "the image has no manifest for the node's platform"
	case CauseNeverPull:
		return "imagePullPolicy is Never and the image is not on the node"
	case CauseInvalidName:
		return "the image reference does not parse"
	case CauseInspectFailed:
		return "the container runtime could not inspect the image on the node"
	}
	return "the node's message does not say why"
}

// Classify returns the cause the node's text gives: the container's waiting reason and
// message first, then the kubelet's Event messages in the order given (newest first is best).
// The first text that names a cause wins.
func Classify(reason, message string, events ...string) Cause {
	switch reason {
	case ReasonInvalidImageName:
		return CauseInvalidName
	case ReasonErrImageNeverPull:
		return CauseNeverPull
	}
	for _, text := range append([]string{message}, events...) {
		if c := classifyText(text); c != CauseUnknown {
			return c
		}
	}
	if reason == ReasonImageInspectError {
		return CauseInspectFailed
	}
	return CauseUnknown
}

// rule is one shape of the node's text. Rules are tried in order: the earlier ones are
// the more specific (containerd's "pull access denied, repository does not exist or may
// require authorization" is an authorization failure, not a missing image; a "TLS
// handshake timeout" is a connection timeout, not a certificate problem).
type rule struct {
	cause Cause
	any   []string
}

var rules = []rule{
	{CauseRateLimited, []string{"429 too many requests", "toomanyrequests", "too many requests", "pull rate limit"}},
	{CausePlatform, []string{"no match for platform in manifest"}},
	{CauseInvalidName, []string{"couldn't parse image reference", "failed to parse image reference", "invalid reference format", "failed to apply default image tag"}},
	{CauseNeverPull, []string{"is not present with pull policy of never"}},
	{CauseUnauthorized, []string{"pull access denied", "401 unauthorized", "403 forbidden", "failed to authorize", "authorization failed", "authentication required", "requested access to the resource is denied", "insufficient_scope", "unauthorized:", "denied:"}},
	{CauseDNS, []string{"no such host", "server misbehaving", "temporary failure in name resolution"}},
	{CauseConnection, []string{"connection refused", "i/o timeout", "tls handshake timeout", "no route to host", "network is unreachable", "connection reset by peer", "context deadline exceeded", "dial tcp"}},
	{CauseTLS, []string{"x509:", "tls: ", "server gave http response to https client", "certificate"}},
	{CauseNotFound, []string{"code = notfound", ": not found", "manifest unknown", "name unknown", "404 not found"}},
}

func classifyText(text string) Cause {
	t := strings.ToLower(text)
	for _, r := range rules {
		for _, s := range r.any {
			if strings.Contains(t, s) {
				return r.cause
			}
		}
	}
	return CauseUnknown
}
