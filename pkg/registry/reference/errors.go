package reference

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	dref "github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// InvalidError is an image the kubelet cannot parse: the container waits with InvalidImageName
// and the kubelet never retries until the pod's image is edited.
type InvalidError struct {
	// Image is the reference as written.
	Image string
	// Reason says in plain words what is wrong.
	Reason string
	// Err is the parser's error.
	Err error
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("image %q is not a valid reference: %s (the kubelet would report InvalidImageName)", e.Image, e.Reason)
}

func (e *InvalidError) Unwrap() error { return e.Err }

// UnsupportedDigestError is a digest the kubelet and containerd accept but go-containerregistry
// cannot hash, so no manifest fetched by it can be verified.
type UnsupportedDigestError struct {
	// Reference is the reference the runtime pulls.
	Reference string
	// Algorithm is the digest algorithm, e.g. "sha384".
	Algorithm string
	// Err is go-containerregistry's error.
	Err error
}

func (e *UnsupportedDigestError) Error() string {
	return fmt.Sprintf("%s digests cannot be verified by the admission webhook (%s)", e.Algorithm, e.Reference)
}

func (e *UnsupportedDigestError) Unwrap() error { return e.Err }

// Anchored forms of the grammar's exported patterns, used only to explain a rejection in more
// detail than the single sentinel ErrReferenceInvalidFormat the grammar gives for all of them.
var (
	anchoredTag        = anchor(dref.TagRegexp)
	anchoredDigest     = anchor(dref.DigestRegexp)
	anchoredIdentifier = anchor(dref.IdentifierRegexp)
)

func anchor(re *regexp.Regexp) *regexp.Regexp {
	return regexp.MustCompile(`^(?:` + re.String() + `)$`)
}

func newInvalidError(image string, err error) *InvalidError {
	return &InvalidError{Image: image, Reason: reason(image, err), Err: err}
}

// reason turns a parse error into words. Sentinels are checked first; the two ParseNormalizedNamed
// rejections without a sentinel are recognised from the input they reject.
func reason(image string, err error) string {
	switch {
	case errors.Is(err, dref.ErrNameContainsUppercase):
		return "repository name must be lowercase"
	case errors.Is(err, dref.ErrNameTooLong):
		return fmt.Sprintf("repository path must not be longer than %d characters", dref.RepositoryNameTotalLengthMax)
	case errors.Is(err, dref.ErrNameEmpty):
		return "repository name is empty"
	case errors.Is(err, dref.ErrTagInvalidFormat):
		return tagReason(tagOf(image))
	case errors.Is(err, dref.ErrDigestInvalidFormat):
		return "invalid digest format"
	case errors.Is(err, digest.ErrDigestUnsupported):
		return fmt.Sprintf("unsupported digest algorithm %q (the kubelet accepts sha256, sha384 and sha512)", algorithmOf(image))
	case errors.Is(err, digest.ErrDigestInvalidLength):
		return fmt.Sprintf("digest has the wrong length for %s", algorithmOf(image))
	case errors.Is(err, digest.ErrDigestInvalidFormat):
		return "digest must be <algorithm>:<lowercase hex>"
	case errors.Is(err, dref.ErrReferenceInvalidFormat):
		return "invalid reference format: " + formatHint(image)
	case anchoredIdentifier.MatchString(image):
		return "a bare 64-character hexadecimal string is an image ID, not a reference (cannot specify 64-byte hexadecimal strings)"
	case strings.ToLower(image) != image:
		return "repository name must be lowercase"
	}
	return "invalid reference format"
}

// formatHint names the part of image that breaks the reference grammar.
func formatHint(image string) string {
	if image == "" {
		return "the image is empty"
	}
	if strings.TrimSpace(image) != image {
		return "leading or trailing whitespace"
	}
	if strings.IndexFunc(image, unicode.IsSpace) >= 0 {
		return "the image contains whitespace"
	}
	named, dgst, hasDigest := strings.Cut(image, "@")
	if hasDigest && !anchoredDigest.MatchString(dgst) {
		return fmt.Sprintf("digest %q must be <algorithm>:<at least 32 hex digits>", dgst)
	}
	if tag := tagOf(named); tag != "" && !anchoredTag.MatchString(tag) {
		return tagReason(tag)
	}
	return "repository path components must be lowercase letters and digits separated by '.', '_', '__' or '-', with no empty component"
}

func tagReason(tag string) string {
	if len(tag) > 128 {
		return "tag is longer than 128 characters"
	}
	return fmt.Sprintf("tag %q must start with a letter, digit or '_' and contain only letters, digits, '_', '.' and '-'", tag)
}

// tagOf returns the tag written in image: the text after a ':' that follows the last '/'. A ':'
// before the last '/' is a port.
func tagOf(image string) string {
	named, _, _ := strings.Cut(image, "@")
	colon := strings.LastIndexByte(named, ':')
	if colon < 0 || colon < strings.LastIndexByte(named, '/') {
		return ""
	}
	return named[colon+1:]
}

func algorithmOf(image string) string {
	_, dgst, _ := strings.Cut(image, "@")
	algorithm, _, _ := strings.Cut(dgst, ":")
	return algorithm
}
