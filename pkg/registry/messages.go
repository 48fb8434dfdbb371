package registry

import (
	"cmp"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pullguard/pullguard/pkg/registry/keyring"
	"github.com/pullguard/pullguard/pkg/registry/reference"
)

// Messages are one line each, name the registry, repository and tag, say what the kubelet would
// hit in its own words, and never contain a credential: credentials are named by
// keyring.Credential.String (source and key only).

// maxCauseLen bounds error text copied from a registry's answer into a message. The text is
// redacted before it is cut, so that no part of a credential survives the cut.
const maxCauseLen = 200

// definiteMessage explains a 401, 403 or 404 that every candidate ended with.
func (p *probe) definiteMessage(a attempt) Verdict {
	f, repo, domain := a.f, p.ref.Repository, p.ref.Domain
	anonymous := a.cred == nil || a.cred.Anonymous()
	switch {
	case f.notFound():
		return p.notFoundMessage(a)
	case !p.trustedCaller:
		return p.untrustedRefusal(a)
	case anonymous && f.status == 401:
		return Verdict{
			Class:  ClassUnauthorized,
			Detail: fmt.Sprintf("%s: repository does not exist or requires credentials; %s, and anonymous access was refused (401)", repo, p.noCredentialClause(a.cred)),
			Fix:    p.anonymousFix(),
		}
	case anonymous && f.status == 403:
		return Verdict{
			Class:  ClassForbidden,
			Detail: fmt.Sprintf("%s: anonymous pull denied by %s (403 Forbidden); %s", repo, domain, p.noCredentialClause(a.cred)),
			Fix:    p.anonymousFix(),
		}
	case f.class == ClassCredentialsRejected:
		return Verdict{
			Class:  ClassCredentialsRejected,
			Detail: fmt.Sprintf("%s: credentials in %s were rejected by the registry's token service (401); the kubelet will not retry anonymously", repo, a.cred),
			Fix:    fmt.Sprintf("correct the username and password in %s", secretName(a.cred)),
		}
	case f.status == 403:
		return Verdict{
			Class:  ClassForbidden,
			Detail: fmt.Sprintf("%s: %s has no pull access (403 Forbidden from %s)", repo, a.cred, domain),
			Fix:    fmt.Sprintf("grant the account in %s pull access to %s, or use a secret that has it", secretName(a.cred), repo),
		}
	}
	return Verdict{
		Class: ClassUnauthorized,
		Detail: fmt.Sprintf("%s: %s refused %s (%s): wrong credentials, or no pull access to a repository that may not exist; the kubelet will not retry anonymously",
			repo, domain, a.cred, f.statusWithCodes()),
		Fix: fmt.Sprintf("check the credentials in %s and their pull access to %s", secretName(a.cred), repo),
	}
}

func (p *probe) notFoundMessage(a attempt) Verdict {
	f, ref := a.f, p.ref
	said := "registry returned " + f.statusWithCodes()
	if f.hasCode(transport.NameUnknownErrorCode) {
		v := Verdict{
			Class:  ClassRepositoryNotFound,
			Detail: fmt.Sprintf("repository %s not found (%s)", ref.Repository, said),
			Fix:    "check the registry and repository name",
		}
		switch {
		case !p.trustedCaller:
			detail, fix := p.untrustedNotFoundClause()
			v.Detail, v.Fix = v.Detail+detail, v.Fix+fix
		case a.cred == nil || a.cred.Anonymous():
			v.Detail += fmt.Sprintf("; some registries answer 404 for private repositories, and %s", p.noCredentialClause(a.cred))
			v.Fix += "; if the repository is private, " + p.anonymousFix()
		}
		return v
	}
	if ref.Digest != "" {
		return Verdict{
			Class:  ClassDigestNotFound,
			Detail: fmt.Sprintf("digest %s not found in %s (%s)", ref.Digest, ref.Repository, said),
			Fix:    fmt.Sprintf("pin a digest that exists in %s", ref.Repository),
		}
	}
	tag := ref.TagOrLatest()
	return Verdict{
		Class:  ClassTagNotFound,
		Detail: fmt.Sprintf("tag %q not found in %s (%s)", tag, ref.Repository, said),
		Fix:    fmt.Sprintf("use a tag that exists in %s", ref.Repository),
	}
}

// noCredentialClause says why the pull is anonymous: the keyring's own account of the pod's
// secrets that did not match (docs/pull-semantics.md rule 8: `imagePullSecret "regcred" has entries for [quay.io] but
// none match …`), a credential without a username, or no secret at all.
func (p *probe) noCredentialClause(cred *keyring.Credential) string {
	switch {
	case cred != nil:
		return fmt.Sprintf("%s holds no username (identitytoken/registrytoken in imagePullSecrets are ignored by the kubelet), so the pull is anonymous", cred)
	case len(p.explanation()) > 0:
		return strings.Join(p.explanation(), "; ")
	}
	return fmt.Sprintf("no imagePullSecret or node credential matches %s", p.ref.Domain)
}

func (p *probe) anonymousFix() string {
	return fmt.Sprintf("add an imagePullSecret with credentials for %s", p.ref.Domain)
}

func secretName(cred *keyring.Credential) string {
	if cred.Secret == "" && cred.Source == "" {
		return "the credential for key " + fmt.Sprintf("%q", cred.Key)
	}
	return cred.SourceName()
}

// unverifiable explains a failure the webhook cannot turn into a certain answer.
func (p *probe) unverifiable(f failure, failed []attempt) Verdict {
	ref, domain := p.ref, p.ref.Domain
	v := Verdict{Outcome: Unverifiable, Class: f.class, Notes: p.credentialNotes(earlierFailures(failed)...)}
	host := f.host
	if f.mirror != "" {
		domain = f.mirror + " (the nodes' mirror of " + domain + ")"
		host = cmp.Or(host, f.mirror)
	}
	if host == "" {
		host = domain
	}
	if f.mirror != "" && f.status >= 400 && f.status < 500 && f.class != ClassRateLimited {
		// containerd may hold the mirror's own credentials (registry.configs.<mirror>.auth).
		v.Class = ClassNodeCredentials
		v.Detail = fmt.Sprintf("%s refused the webhook's request for %s (%s); the nodes may hold credentials for it; not verified", domain, ref.Pull, f.statusWithCodes())
		return v
	}
	switch f.class {
	case ClassRateLimited:
		who := "registry " + domain
		if domain == dockerHubDomain {
			who = "Docker Hub"
		}
		status := f.cause
		ra := p.trace.RetryAfter()
		if d, ok := parseRetryAfter(ra, time.Now()); ok {
			status += ", Retry-After " + ra
			v.RetryAfter = d
		}
		v.Detail = fmt.Sprintf("%s rate limit hit while verifying %s (%s); pods may fail with ErrImagePull (429) until it resets", who, ref.Pull, status)
		v.Fix = "authenticate pulls or use a mirror"
	case ClassRegistryUnavailable:
		v.Detail = fmt.Sprintf("registry %s unavailable (%s) during admission while checking %s; pull may fail", domain, f.cause, ref.Pull)
	case ClassDNSFailure:
		v.Detail, v.Fix = p.dnsMessage(host, f.mirror)
	case ClassTLSFailure:
		v.Detail = fmt.Sprintf("TLS verification failed for %s from the webhook (%s); nodes may trust a different CA", host, f.cause)
		v.Fix = "if the nodes trust this registry's CA, give pullguard the same CA bundle"
	case ClassTimeout:
		v.Detail = fmt.Sprintf("registry %s did not answer in time while checking %s (%s); the pull may still succeed", domain, ref.Pull, f.cause)
	case ClassBlocked:
		v.Detail = fmt.Sprintf("%s cannot be verified: %s, and the webhook does not connect there", ref.Pull, f.cause)
		v.Fix = fmt.Sprintf("if %s is a trusted in-cluster registry, add it to --allow-private-registries", host)
		if f.plainHTTP {
			v.Fix = fmt.Sprintf("if %s is served over plain HTTP on purpose, add it to --insecure-registries", host)
		}
	default:
		cause := f.cause
		if f.unknown || f.status != 0 {
			cause = f.err.Error()
		}
		cause = Truncate(p.redact.string(cause), maxCauseLen)
		v.Class = ClassInvalidResponse
		v.Detail = fmt.Sprintf("registry %s sent an unexpected response while checking %s: %s", domain, ref.Pull, cause)
	}
	return v
}

// dnsMessage explains a host name the webhook could not resolve. The webhook resolves names with
// its pod's DNS, the nodes with their own, so a failure blames the image only when its own host
// is the likely cause: a single-label name, or a typo of a well-known registry. Any other host
// (Docker Hub's registry-1.docker.io, a token service, a mirror, a well-known registry) is named
// as the webhook's problem, since the user wrote a correct name.
func (p *probe) dnsMessage(host, mirror string) (detail, fix string) {
	imageHost := p.ref.Domain
	if h, _, err := net.SplitHostPort(imageHost); err == nil {
		imageHost = h
	}
	if host != imageHost || mirror != "" || slices.Contains(knownRegistries, host) {
		what := fmt.Sprintf("host %q", host)
		switch {
		case mirror != "":
			what += fmt.Sprintf(" (the nodes' mirror of %s)", p.ref.Domain)
		case host == dockerHubHost && p.ref.Domain == dockerHubDomain:
			what = fmt.Sprintf("Docker Hub's registry host %q (where the nodes pull docker.io images)", host)
		}
		return fmt.Sprintf("%s could not be resolved from the admission webhook while checking %s; the nodes use their own DNS; not verified", what, p.ref.Pull),
			fmt.Sprintf("let the webhook resolve and reach %s (its DNS, egress firewall and proxy rules)", host)
	}
	detail = fmt.Sprintf("registry host %q could not be resolved from the admission webhook; pods will likely fail with ErrImagePull", host)
	if !strings.Contains(host, ".") {
		return detail + "; a single-label host name rarely resolves on the nodes, which do not use the cluster's DNS search domains",
			"write the registry's fully qualified host name in the image"
	}
	if similar := similarRegistries(host); len(similar) > 0 {
		quoted := make([]string, len(similar))
		for i, r := range similar {
			quoted[i] = strconv.Quote(r)
		}
		return detail, "did you mean " + joinOr(quoted) + "?"
	}
	return detail, fmt.Sprintf("if the nodes resolve %s, give the webhook the same DNS view", host)
}

// knownRegistries are the public registries most images come from: a host a typo away from
// one of them is most likely that typo.
var knownRegistries = []string{
	"docker.io", "registry-1.docker.io", "index.docker.io", "ghcr.io", "quay.io", "gcr.io",
	"registry.k8s.io", "mcr.microsoft.com", "public.ecr.aws",
}

// similarRegistries returns the known registries at the smallest edit distance from host, if it
// is at most 1 for names of up to 6 characters ("gcr.io") and 2 beyond ("dokcer.io").
func similarRegistries(host string) []string {
	return closest(host, knownRegistries, func(r string) int {
		if len(r) <= 6 {
			return 1
		}
		return 2
	})
}

// why describes one credential's failure for notes.
func why(f failure) string {
	switch {
	case f.class == ClassCredentialsRejected:
		return "rejected by the registry's token service (401)"
	case f.status == 403:
		return "no pull access (403 Forbidden)"
	case f.notFound():
		return "not found with it (" + f.statusWithCodes() + ")"
	}
	return "refused (" + f.statusWithCodes() + ")"
}

// workedAfter notes the credentials that failed before the one that worked (the kubelet tries
// them on every pull, so they cost a failed request each time).
func workedAfter(failed []attempt) []string {
	var notes []string
	for _, a := range failed {
		what := "has invalid credentials"
		switch {
		case a.f.status == 403:
			what = "has no pull access"
		case a.f.notFound():
			what = "cannot see the image"
		}
		notes = append(notes, fmt.Sprintf("%s %s (%s); the next credential worked", credentialName(a.cred), what, why(a.f)))
	}
	return notes
}

func earlierFailures(failed []attempt) []string {
	var notes []string
	for _, a := range failed {
		notes = append(notes, fmt.Sprintf("%s failed before this: %s", credentialName(a.cred), why(a.f)))
	}
	return notes
}

// parseRetryAfter reads a Retry-After header in the forms RFC 9110 allows, the only ones worth
// repeating from a registry: delay-seconds, or an HTTP date (relative to now, 0 when past).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" || len(v) > 40 {
		return 0, false
	}
	if s, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(s) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

func joinComma(ss []string) string { return strings.Join(ss, ", ") }

func joinOr(ss []string) string { return strings.Join(ss, " or ") }

func credentialName(cred *keyring.Credential) string {
	if cred == nil {
		return "anonymous"
	}
	return cred.String()
}

// nodeSelectorHint suggests how to keep pods on the nodes the image supports.
func nodeSelectorHint(matched, missing []ocispec.Platform) string {
	var oses, archs []string
	for _, p := range matched {
		if !slices.Contains(oses, p.OS) {
			oses = append(oses, p.OS)
		}
		if !slices.Contains(archs, p.Architecture) {
			archs = append(archs, p.Architecture)
		}
	}
	osDiffers := slices.ContainsFunc(missing, func(p ocispec.Platform) bool { return !slices.Contains(oses, p.OS) })
	switch {
	case osDiffers && len(oses) == 1:
		return "add nodeSelector kubernetes.io/os=" + oses[0]
	case len(archs) == 1:
		return "add nodeSelector kubernetes.io/arch=" + archs[0]
	}
	return fmt.Sprintf("add a required node affinity on kubernetes.io/arch in (%s)", strings.Join(archs, ", "))
}

// invalidReference is an image the kubelet rejects (InvalidImageName); err is a
// *reference.InvalidError.
func invalidReference(err error) Verdict {
	return Verdict{
		Outcome: NotPullable, Class: ClassInvalidReference,
		Detail: err.Error(), Fix: "correct the image reference in the pod spec",
	}
}

func uppercaseHost(ref *reference.Reference) Verdict {
	return Verdict{
		Outcome: NotPullable, Class: ClassInvalidReference,
		Detail: fmt.Sprintf("%q is parsed as a registry host because it contains uppercase letters; Docker Hub namespaces must be lowercase (the pull would fail resolving host %q)", ref.Domain, ref.Domain),
		Fix:    fmt.Sprintf("write the namespace in lowercase: %q", strings.ToLower(ref.Domain)+strings.TrimPrefix(ref.Original, ref.Domain)),
	}
}

func invalidPullSecret(ref *reference.Reference, err error) Verdict {
	return Verdict{
		Outcome: NotPullable, Class: ClassInvalidPullSecret,
		Detail: fmt.Sprintf("%v; the kubelet fails every pull of this pod before contacting %s", err, ref.Domain),
		Fix:    "recreate the secret, e.g. with kubectl create secret docker-registry",
	}
}

func tagIgnoredNote(ref *reference.Reference) string {
	return fmt.Sprintf("tag %q is ignored by the runtime; it pulls %s", ref.Tag, ref.Digest)
}

func unsupportedDigest(ref *reference.Reference, algorithm string) Verdict {
	return Verdict{
		Outcome: Unverifiable, Class: ClassUnsupportedDigest,
		Detail: fmt.Sprintf("%s digests cannot be verified by the webhook (%s); the kubelet and containerd accept them", algorithm, ref.Pull),
	}
}

// unaddressable is a reference the kubelet accepts but go-containerregistry cannot address:
// the webhook's limit, not the pod's.
func unaddressable(ref *reference.Reference, err error) Verdict {
	return Verdict{
		Outcome: Unverifiable, Class: ClassInvalidReference,
		Detail: fmt.Sprintf("%s cannot be verified: the webhook's registry client cannot address it (%v)", ref.Pull, err),
	}
}

// staleNote marks a Pullable verdict served after its freshness because the fresh check,
// fresh, was Unverifiable.
func staleNote(fresh Verdict, age time.Duration) string {
	return fmt.Sprintf("the registry could not be checked now (%s); this verdict is from a check %s ago", fresh.Detail, age.Round(time.Second))
}

func schema1(ref *reference.Reference, mediaType types.MediaType) Verdict {
	return Verdict{
		Outcome: NotPullable, Class: ClassUnsupportedMediaType,
		Detail: fmt.Sprintf("%s is a Docker schema1 manifest (%s): Docker schema1 manifests are not supported by the node runtime (containerd 2.0 and later)", ref.Pull, mediaType),
		Fix:    "rebuild and push the image with a current builder (OCI or Docker schema2)",
	}
}

// platformMissing is an index with no manifest for any candidate node.
func platformMissing(p *probe, pm platformMatch, maxListed int) Verdict {
	return Verdict{
		Outcome: NotPullable, Class: ClassPlatformMissing,
		Detail: fmt.Sprintf("%s: image has no %s manifest (available: %s); candidate nodes are %s",
			p.ref.Pull, joinOr(formatPlatforms(pm.missing)), listed(pm.available, maxListed), joinComma(formatPlatforms(p.platforms))),
		Fix: fmt.Sprintf("publish the image for %s, or use an image built for the nodes' platforms", joinComma(formatPlatforms(pm.missing))),
	}
}

// indexTruncatedNote says that an index was read only in part (Limits.MaxIndexChildren) and
// that the missing platforms may be in the part not read.
func indexTruncatedNote(digest string, children indexChildren, pm platformMatch) string {
	return fmt.Sprintf("image index %s lists %d manifests; the webhook reads the first %d (--max-index-children) and found no %s manifest among them; not verified for those nodes",
		digest, children.total, children.read, joinOr(formatPlatforms(pm.missing)))
}

// indexTruncatedDetail is an index read in part with no candidate platform in that part.
func indexTruncatedDetail(p *probe, note string, pm platformMatch, maxListed int) string {
	return fmt.Sprintf("%s: %s (available among them: %s)", p.ref.Pull, note, listed(pm.available, maxListed))
}

// somePlatformsNote is an index that some candidate nodes cannot run.
func somePlatformsNote(pm platformMatch) string {
	return fmt.Sprintf("no %s manifest; pods scheduled on %s nodes will fail: %s",
		joinOr(formatPlatforms(pm.missing)), joinOr(formatPlatforms(pm.missing)), nodeSelectorHint(pm.matched, pm.missing))
}

// singlePlatformMessage is the note for a single-platform image built for plat, or "" when
// every candidate node runs it.
func singlePlatformMessage(plat *v1.Platform, candidates []ocispec.Platform) string {
	pm := matchPlatforms([]*v1.Platform{plat}, candidates)
	built := formatPlatform(ociPlatform(plat))
	anyBuild := *plat
	anyBuild.OSVersion = ""
	switch {
	case len(pm.missing) == 0:
		return ""
	case len(matchPlatforms([]*v1.Platform{&anyBuild}, pm.missing).missing) == 0:
		// Only a Windows build differs: Windows refuses to start the container instead.
		return fmt.Sprintf("image is built for %s, which %s nodes do not run: it will pull, then the container fails to start (the container's Windows version does not match the host's); use an image for the nodes' Windows build",
			built, joinOr(formatPlatforms(pm.missing)))
	case len(pm.matched) == 0:
		return fmt.Sprintf("image is built for %s only but the candidate nodes are %s: it will pull, then the container fails with exec format error (CrashLoopBackOff); build it for %s, or as a multi-platform image",
			built, joinComma(formatPlatforms(candidates)), joinComma(formatPlatforms(pm.missing)))
	}
	return fmt.Sprintf("image is built for %s only; containers on %s nodes will fail with exec format error: %s",
		built, joinOr(formatPlatforms(pm.missing)), nodeSelectorHint(pm.matched, pm.missing))
}

func tagDriftNote(ref *reference.Reference, digest string) string {
	return fmt.Sprintf("tag %q now points to %s, not to the pinned digest; the runtime pulls the pinned digest", ref.Tag, digest)
}

func alsoFailedNote(a attempt) string {
	return fmt.Sprintf("%s also failed: %s", credentialName(a.cred), why(a.f))
}

// nodeCredentials is a definite failure on a registry the nodes hold credentials for.
func nodeCredentials(ref *reference.Reference, primary attempt, credential string) Verdict {
	return Verdict{
		Outcome: Unverifiable, Class: ClassNodeCredentials, Credential: credential,
		Detail: fmt.Sprintf("credentials for %s come from the nodes; not verified (the webhook's own check got %s)", ref.Repository, primary.f.statusWithCodes()),
	}
}

// cloudSource names the webhook's own cloud identity as a credential source.
func cloudSource(provider string) string { return "the webhook's " + provider + " identity" }

// cloudNodesNotChecked is the note on a verdict reached with the webhook's cloud identity.
func cloudNodesNotChecked(provider string) string {
	return "checked with the webhook's own " + provider + " identity; whether the nodes' identity may pull it was not checked"
}

// cloudIdentityFailed: the webhook's cloud identity got no registry token.
func cloudIdentityFailed(ref *reference.Reference, provider string, err error) Verdict {
	return Verdict{
		Outcome: Unverifiable, Class: ClassCloudIdentity, Credential: cloudSource(provider),
		Detail: fmt.Sprintf("the webhook's own %s identity got no token for %s (%v); %s not verified, the image is not in question", provider, ref.Domain, err, ref.Pull),
		Fix:    "check the webhook's cloud identity and its access to the cloud's token API (README: cloud registries)",
	}
}

// cloudIdentityRefused: the registry refused the webhook's cloud identity.
func cloudIdentityRefused(ref *reference.Reference, provider string, a attempt) Verdict {
	return Verdict{
		Outcome: Unverifiable, Class: ClassCloudIdentity, Credential: credentialName(a.cred),
		Detail: fmt.Sprintf("%s refused the webhook's own %s identity (%s); %s not verified, the image is not in question", ref.Domain, provider, a.f.statusWithCodes(), ref.Pull),
		Fix:    "grant the webhook's identity read access to the registry (README: cloud registries)",
	}
}
