package reference

import (
	// The kubelet imports both hash packages in pkg/util/parsers so that go-digest accepts sha256,
	// sha384 and sha512 digests; without them the parse would reject references the node accepts.
	_ "crypto/sha256"
	_ "crypto/sha512"
	"fmt"
	"strings"

	dref "github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"k8s.io/utils/lru"
)

// Reference is one image reference as the kubelet validates it and as containerd pulls it.
type Reference struct {
	// Original is the image exactly as written in the pod spec.
	Original string
	// Repository is Named.Name(), e.g. "docker.io/library/nginx": the kubelet's repoToPull, the
	// only name its credential lookup ever sees.
	Repository string
	// Named is the reference as the kubelet normalises it (Named.String()), tag and digest as
	// written: "docker.io/library/nginx:1.25" for "nginx:1.25".
	Named string
	// Domain is the registry host (with port), e.g. "docker.io" or "localhost:5000".
	Domain string
	// Path is the repository path within Domain, e.g. "library/nginx".
	Path string
	// Tag is the tag as written, "" if none (Pull then carries the implicit "latest").
	Tag string
	// Digest is the digest as written ("sha256:…"), "" if none.
	Digest string
	// Pull is what the runtime pulls: "docker.io/library/nginx:latest" or "docker.io/library/nginx@sha256:…".
	Pull string
	// TagIgnored is true when both a tag and a digest were given: the runtime pulls the digest and
	// never checks that the tag points to it.
	TagIgnored bool
}

// Parse parses image exactly as the kubelet does and derives the reference containerd pulls.
// The error is always an *InvalidError.
//
// The returned Reference is shared: callers must not modify it.
func Parse(image string) (*Reference, error) {
	if p, ok := parsed.Get(image); ok {
		r := p.(parseResult)
		return r.ref, r.err
	}
	ref, err := parse(image)
	if err != nil {
		// Keep the interface nil for a valid reference: a typed nil *InvalidError is not.
		parsed.Add(image, parseResult{err: err})
		return nil, err
	}
	parsed.Add(image, parseResult{ref: ref})
	return ref, nil
}

// parsed caches Parse by image string. The same few images arrive with admission after
// admission, and the parser's regular expressions are the costliest part of a cached check;
// a result never changes. Bounded, since images are user input.
var parsed = lru.New(4096)

type parseResult struct {
	ref *Reference
	err error
}

func parse(image string) (*Reference, *InvalidError) {
	named, err := dref.ParseNormalizedNamed(image)
	if err != nil {
		return nil, newInvalidError(image, err)
	}
	// containerd's own derivation (CRI PullImage), rather than a re-implementation of it.
	pull, err := dref.ParseDockerRef(image)
	if err != nil {
		return nil, newInvalidError(image, err)
	}
	r := &Reference{
		Original:   image,
		Repository: named.Name(),
		Named:      named.String(),
		Domain:     dref.Domain(named),
		Path:       dref.Path(named),
		Pull:       pull.String(),
	}
	if tagged, ok := named.(dref.Tagged); ok {
		r.Tag = tagged.Tag()
	}
	if digested, ok := named.(dref.Digested); ok {
		r.Digest = digested.Digest().String()
	}
	r.TagIgnored = r.Tag != "" && r.Digest != ""
	if r.Domain == "" {
		// splitDockerDomain takes a first element with a '.' or ':' as a host ("0_0.0/app"), but
		// one that is no valid host name then fails the grammar's domain part and the parser
		// reports no domain at all. The kubelet matches credentials against Name() and the
		// runtime contacts the first element as a host, so that is the domain here too.
		r.Domain, r.Path, _ = strings.Cut(r.Repository, "/")
	}
	return r, nil
}

// TagOrLatest is the tag the runtime resolves: the one written, or "latest" when none is.
func (r *Reference) TagOrLatest() string {
	if r.Tag == "" {
		return "latest"
	}
	return r.Tag
}

// DigestAlgorithm returns the digest's algorithm ("sha256", "sha512", …), or "" without a digest.
func (r *Reference) DigestAlgorithm() string {
	algorithm, _, _ := strings.Cut(r.Digest, ":")
	return algorithm
}

// UppercaseHost reports the distribution quirk where an uppercase first path element such as
// "MyOrg/app" is taken as a registry host (splitDockerDomain: Docker Hub namespaces are lowercase,
// so an uppercase one "must" be a host). The runtime then tries to resolve "MyOrg" and the pull
// fails with a DNS error. A first element with a '.' or ':' is a real host name whose case DNS
// ignores, so it does not count.
func (r *Reference) UppercaseHost() bool {
	return strings.ToLower(r.Domain) != r.Domain && !strings.ContainsAny(r.Domain, ".:")
}

// GGCR parses Pull with go-containerregistry, which must never see the reference as written: its
// weak validation accepts names the kubelet rejects and rewrites docker.io to index.docker.io.
// A digest whose algorithm ggcr cannot hash gives an *UnsupportedDigestError: ggcr would parse the
// name but fail every manifest fetch, so the caller can answer "cannot verify" up front.
func (r *Reference) GGCR(opts ...name.Option) (name.Reference, error) {
	if algorithm := r.DigestAlgorithm(); algorithm != "" {
		if _, err := v1.Hasher(algorithm); err != nil {
			return nil, &UnsupportedDigestError{Reference: r.Pull, Algorithm: algorithm, Err: err}
		}
	}
	ref, err := name.ParseReference(r.Pull, opts...)
	if err != nil {
		return nil, fmt.Errorf("go-containerregistry cannot parse %q: %w", r.Pull, err)
	}
	return ref, nil
}
