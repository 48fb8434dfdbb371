package registry

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pullguard/pullguard/pkg/registry/cloud"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
	"github.com/pullguard/pullguard/pkg/registry/reference"
)

// probe is one registry check: everything the verdict depends on.
type probe struct {
	ref *reference.Reference
	// repo is ref.Repository parsed for credential and registry-pattern matching.
	repo *keyring.Repo
	// hosts are the mirrors the runtime tries, then the registry itself (the last one).
	hosts []probeHost
	// creds are the kubelet's candidates in order; empty means one anonymous pull.
	creds     []keyring.Credential
	platforms []ocispec.Platform
	// keyring gives, through explanation, its account of the pod's secrets for this repository
	// (near misses when none matched, ignored entries when some did), for messages. It is
	// computed only for a message that shows it, at most once, listing at most maxKeys keys.
	keyring   *keyring.Keyring
	maxKeys   int
	explain   []string
	explained bool
	// ignored says which of the pod's secrets the kubelet skips (wrong type, no data).
	ignored []string
	// nodeCredentials is set when the nodes hold credentials for the repository.
	nodeCredentials bool
	// cloud is the provider of the webhook's own identity for the registry, when no pull
	// secret matched; cloudCred is the credential it gave, once run got it.
	cloud     cloud.Provider
	cloudCred *keyring.Credential
	// getManifest makes the probe GET the manifest instead of a HEAD: the platform check will
	// read the body (an index's children, a single image's config), the registry does not count
	// GETs as pulls (Options.SinglePlatformCheckSkip), and one GET costs no more than a HEAD.
	getManifest bool
	trace       *trace
	// redact removes the credentials of creds from text copied out of a registry's answer.
	redact redactor
	// trustedCaller allows a tag hint read with credentials (Request.TrustedCaller).
	trustedCaller bool
	// batch is Request.Batch when it was built with this probe's keyring.
	batch *Batch
}

// probeHost is one host the runtime asks for the image.
type probeHost struct {
	ref name.Reference
	// mirror is the mirror's host[:port]; "" for the registry itself.
	mirror string
}

// attempt is the failure of one candidate credential (cred nil: the anonymous pull), with the
// puller (nil when none could be built) and the reference of the registry that answered.
type attempt struct {
	cred   *keyring.Credential
	f      failure
	puller *pooledPuller
	ref    name.Reference
}

// resolved is a manifest a host served.
type resolved struct {
	// ref is the reference on the host that served it (a mirror's or the registry's).
	ref  name.Reference
	desc v1.Descriptor
	// manifest is the body when it was fetched with GET (nil after a HEAD).
	manifest []byte
	puller   *pooledPuller
	cred     *keyring.Credential
}

// run tries every candidate in the kubelet's order: the first success wins, a definite failure
// (401, 403, 404) moves on to the next candidate as the kubelet does, and anything transient
// (429, 5xx, network, DNS, TLS, timeout) stops at once rather than hammering the registry with
// the remaining credentials. There is no anonymous attempt once a credential matched.
func (c *Checker) run(ctx context.Context, p *probe) Verdict {
	creds := p.creds
	if p.cloud != nil {
		cred, v, ok := c.cloudCredential(ctx, p)
		if !ok {
			return v
		}
		creds = []keyring.Credential{*cred}
	}
	n := max(len(creds), 1)
	var failed []attempt
	for i := range n {
		var cred *keyring.Credential
		if len(creds) > 0 {
			cred = &creds[i]
		}
		res, f, ok := c.probeHosts(ctx, p, cred)
		if ok {
			v := c.pullable(ctx, p, res, failed)
			if p.cloudCred != nil {
				v.Notes = append(v.Notes, cloudNodesNotChecked(p.cloud.Name()))
			}
			return v
		}
		if !f.definite {
			v := p.unverifiable(f, failed)
			v.Credential = credentialName(cred)
			return v
		}
		failed = append(failed, attempt{cred: cred, f: f, puller: res.puller, ref: res.ref})
	}
	if p.cloudCred != nil && !failed[0].f.notFound() {
		return c.cloudRefused(p, failed[0])
	}
	v := p.definite(failed)
	if v.Class == ClassTagNotFound {
		if tags := c.tagHint(ctx, p, failed); len(tags) > 0 {
			// The repository is named in Detail already: a short fix keeps a warning whole.
			v.Fix = "did you mean " + quoteTags(tags) + "?"
			v.SimilarTags = tags
		}
	}
	return v
}

// probeHosts resolves the manifest with one credential on each host in the runtime's order
// (containerd sends the kubelet's credential to every host): the first that serves it wins.
// When all fail, the registry's own failure decides, unless a mirror failed for another reason
// than "not found" (an outage, credentials it refused): the nodes may get the image there, so
// that failure, made non-definite, is the answer.
//
// A digest is asked for under /manifests/ only. containerd's resolver (core/remotes/docker/
// resolver.go, Resolve) HEADs /blobs/<digest> after every host answered 404 (or failed without
// an answer), but the pull then fetches the manifest (core/remotes/docker/fetcher.go,
// dockerFetcher.Fetch) from /manifests/ only for manifest and index media types, and reads any
// other type from /blobs/ as a root the pull cannot unpack: a digest a registry serves only
// under /blobs/ fails on the node, so the 404 here is the node's answer (TestDigestOnlyUnderBlobs).
func (c *Checker) probeHosts(ctx context.Context, p *probe, cred *keyring.Credential) (resolved, failure, bool) {
	var (
		mirrorFailure *failure
		res           resolved
		f             failure
	)
	for _, h := range p.hosts {
		hctx := ctx
		if h.mirror != "" {
			hctx = withNamespace(ctx, h.mirror, p.ref.Domain)
		}
		r, hf, ok := c.probeCredential(hctx, p, c.hostCredential(p, cred, h), h)
		if ok {
			return r, hf, true
		}
		if h.mirror == "" {
			res, f = r, hf
		} else if mirrorFailure == nil && !hf.notFound() {
			hf.definite, hf.mirror = false, h.mirror
			mirrorFailure = &hf
		}
	}
	if mirrorFailure != nil && f.definite {
		return res, *mirrorFailure, false
	}
	return res, f, false
}

// probeCredential resolves the manifest on one host with one credential. With getManifest, one GET.
// Otherwise HEAD first (Docker Hub does not count HEADs against the pull limit), GET when the
// HEAD answer is malformed (as crane.Digest does), and one diagnostic GET after a 404 to tell a
// missing tag from a missing repository.
func (c *Checker) probeCredential(ctx context.Context, p *probe, cred *keyring.Credential, h probeHost) (resolved, failure, bool) {
	auth, fingerprint := authn.Anonymous, ""
	if cred != nil && !cred.Anonymous() {
		auth = authn.FromConfig(authn.AuthConfig{Username: cred.Username, Password: cred.Password})
		fingerprint = cred.Fingerprint()
	}
	repo := h.ref.Context()
	puller, pooled := c.pullers.cached(fingerprint, repo.Name())
	created := false
	if !pooled {
		var shared http.RoundTripper
		if p.batch != nil && h.mirror == "" {
			shared = p.batch.transport(ctx, c, repo, fingerprint, auth)
		}
		var err error
		if puller, err = c.pullers.create(fingerprint, repo.Name(), auth, shared, shared != nil); err != nil {
			return resolved{}, classify(err), false
		}
		created = true
	}
	res, f, ok := c.probePuller(ctx, p, cred, h, puller, created)
	if !ok && puller.shared && sharedTokenSuspect(f) {
		// The shared token may lack this repository (a token service that read only some
		// scopes): the answer is the one of the repository's own handshake.
		own, err := c.pullers.create(fingerprint, repo.Name(), auth, nil, false)
		if err != nil {
			return resolved{}, classify(err), false
		}
		res, f, ok = c.probePuller(ctx, p, cred, h, own, true)
	}
	if ok || f.status != http.StatusUnauthorized || f.tokenService {
		return res, f, ok
	}
	ch := p.trace.takeChallenge(repo.RegistryStr())
	if ch == nil {
		return res, f, ok
	}
	// The registry wants a token the puller never asked for (lateChallenge): answer the
	// challenge as containerd does, once.
	rt, err := ch.handshake(ctx, repo, auth, c.pullers.transport)
	if err != nil {
		return res, classify(err), false
	}
	answered, err := c.pullers.create(fingerprint, repo.Name(), auth, rt, false)
	if err != nil {
		return resolved{}, classify(err), false
	}
	return c.probePuller(ctx, p, cred, h, answered, true)
}

// sharedTokenSuspect reports whether a failure through a Batch's token could be the token's:
// an authorization failure, a not-found (registries that hide what a token may not read), a
// token service error. A 429, a 5xx or a network failure of the registry is the registry's
// whatever the token, and asking again would only hammer it.
func sharedTokenSuspect(f failure) bool {
	return f.definite || f.tokenService || f.status == http.StatusUnauthorized || f.status == http.StatusForbidden || f.status == http.StatusNotFound
}

// probePuller is probeCredential with the puller chosen; created says this call made it.
func (c *Checker) probePuller(ctx context.Context, p *probe, cred *keyring.Credential, h probeHost, puller *pooledPuller, created bool) (resolved, failure, bool) {
	res := resolved{ref: h.ref, puller: puller, cred: cred}
	// A puller this call did not create and that never succeeded may be in the middle of a
	// handshake running under another check's context.
	joined := !created && !puller.ready.Load()

	get := func() (resolved, failure, bool) {
		d, err := callOwn(ctx, joined, func() (*remote.Descriptor, error) { return puller.Get(ctx, h.ref) })
		if err != nil {
			return res, classify(err), false
		}
		puller.ready.Store(true)
		res.desc, res.manifest = d.Descriptor, d.Manifest
		return res, failure{}, true
	}
	if p.getManifest {
		return get()
	}
	desc, err := callOwn(ctx, joined, func() (*v1.Descriptor, error) { return puller.Head(ctx, h.ref) })
	if err == nil {
		puller.ready.Store(true)
		res.desc = *desc
		return res, failure{}, true
	}
	f := classify(err)
	if !f.unknown && !f.notFound() {
		return res, f, false
	}
	// Either the HEAD answer was malformed (fall back to GET), or it was a 404 whose body HEAD
	// cannot carry (GET it to read MANIFEST_UNKNOWN vs NAME_UNKNOWN).
	got, g, ok := get()
	if ok {
		return got, g, true
	}
	if f.notFound() && !g.notFound() {
		// The diagnosis failed (e.g. 429 on the GET); the HEAD's 404 still stands.
		return res, f, false
	}
	return res, g, false
}

// callOwn runs a go-containerregistry call and, when the call joined a handshake started by
// another check (see pullerPool), repeats it once if it failed with a context error that is not
// ctx's own: the failed handshake is forgotten, so the repeat performs its own. Any other
// failure, timeouts of the transport included, is returned as it is.
func callOwn[T any](ctx context.Context, joined bool, call func() (T, error)) (T, error) {
	v, err := call()
	if joined && err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) && ctx.Err() == nil {
		return call()
	}
	return v, err
}

// pullable turns a served manifest into a verdict: schema 1 is refused by containerd 2, and an
// index must offer a platform the candidate nodes run. A single manifest never fails the pull
// whatever its platform (containerd does not check it), so a wrong one is only a note.
func (c *Checker) pullable(ctx context.Context, p *probe, res resolved, failed []attempt) Verdict {
	v := Verdict{
		Outcome:    Pullable,
		Class:      ClassOK,
		Digest:     res.desc.Digest.String(),
		Credential: p.credentialName(res.cred),
		Notes:      p.credentialNotes(workedAfter(failed)...),
	}
	if note := c.tagDrift(ctx, p, res); note != "" {
		v.Notes = append(v.Notes, note)
	}
	switch res.desc.MediaType {
	case types.DockerManifestSchema1, types.DockerManifestSchema1Signed:
		s1 := schema1(p.ref, res.desc.MediaType)
		s1.Credential = v.Credential
		return s1
	}
	if len(p.platforms) == 0 {
		return v
	}
	if !res.desc.MediaType.IsIndex() {
		if note := c.singlePlatformNote(ctx, p, res); note != "" {
			v.Notes = append(v.Notes, note)
		}
		return v
	}
	children, err := c.indexPlatforms(ctx, res.puller.Puller, res.ref.Context(), res.desc.Digest, res.manifest)
	if err != nil {
		return p.unverifiable(classify(err), failed)
	}
	pm := matchPlatforms(children.platforms, p.platforms)
	if len(pm.missing) > 0 && children.truncated() {
		// The platforms may be among the entries not read.
		note := indexTruncatedNote(res.desc.Digest.String(), children, pm)
		if len(pm.matched) == 0 {
			return Verdict{Outcome: Unverifiable, Class: ClassInvalidResponse, Digest: v.Digest, Credential: v.Credential, Notes: v.Notes,
				Detail: indexTruncatedDetail(p, note, pm, c.opts.Limits.MaxListedPlatforms)}
		}
		v.Platforms = formatPlatforms(pm.matched)
		v.Notes = append(v.Notes, note)
		return v
	}
	if len(pm.matched) == 0 {
		missing := platformMissing(p, pm, c.opts.Limits.MaxListedPlatforms)
		missing.Digest, missing.Credential = v.Digest, v.Credential
		return missing
	}
	v.Platforms = formatPlatforms(pm.matched)
	if len(pm.missing) > 0 {
		v.Notes = append(v.Notes, somePlatformsNote(pm))
	}
	return v
}

// tagDrift tells, for a reference with both a tag and a digest, whether the tag now points
// elsewhere: the runtime pulls the digest and never looks at the tag (docs/pull-semantics.md rule 38), so a moved
// tag is a sign the pin is stale, not a failure. One more HEAD, only for such references; if it
// fails, nothing is said.
func (c *Checker) tagDrift(ctx context.Context, p *probe, res resolved) string {
	if !p.ref.TagIgnored {
		return ""
	}
	desc, err := res.puller.Head(ctx, res.ref.Context().Tag(p.ref.Tag))
	if err != nil || desc.Digest.String() == p.ref.Digest {
		return ""
	}
	return tagDriftNote(p.ref, desc.Digest.String())
}

// rank orders definite failures by how much they tell: a 404 after the registry accepted a
// credential says the image is missing whatever the other credentials are.
func rank(f failure) int {
	switch {
	case f.notFound():
		return 0
	case f.status == http.StatusForbidden:
		return 1
	case !f.tokenService:
		return 2
	}
	return 3
}

// definite builds the verdict when every candidate failed with 401, 403 or 404.
func (p *probe) definite(failed []attempt) Verdict {
	pi := 0
	for i, a := range failed {
		if rank(a.f) < rank(failed[pi].f) {
			pi = i
		}
	}
	primary := failed[pi]
	var notes []string
	for i, a := range failed {
		if i != pi {
			notes = append(notes, alsoFailedNote(a))
		}
	}
	if p.nodeCredentials && p.cloudCred == nil && !primary.f.hasCode(transport.ManifestUnknownErrorCode) {
		// The nodes hold a credential the webhook does not; only a definite "this tag does not
		// exist in this repository" survives that.
		v := nodeCredentials(p.ref, primary, p.credentialName(primary.cred))
		v.Notes = p.credentialNotes(notes...)
		return v
	}
	v := p.definiteMessage(primary)
	if len(p.creds) > 0 && p.trustedCaller {
		notes = append(notes, p.explanation()...)
	}
	// A skipped secret often is the reason nothing matched (docs/pull-semantics.md rule 20: an Opaque secret).
	notes = append(notes, p.ignored...)
	v.Outcome, v.Credential, v.Notes = NotPullable, p.credentialName(primary.cred), p.credentialNotes(notes...)
	return v
}

// explanation is the keyring's account of the pod's secrets for the repository.
func (p *probe) explanation() []string {
	if !p.explained {
		p.explain, p.explained = p.keyring.Explain(*p.repo, p.maxKeys), true
	}
	return p.explain
}
