package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/internal/testregistry"
)

// world is the set of fake registries the rules of docs/pull-semantics.md run against.
type world struct {
	env *env
	// digest of reg.example.com/team/app:1.2
	appDigest v1.Hash
	// v1Digest is what team/app:v1 points to, another image than appDigest.
	v1Digest v1.Hash
	// plainAddr is a plain-HTTP registry on 127.0.0.1; refusedAddr has no listener.
	plainAddr, refusedAddr string
}

func newWorld(t *testing.T) *world {
	e := newEnv(t)
	w := &world{env: e}

	// Docker Hub: Bearer token flow, anonymous tokens without access to private or missing
	// repositories (so both answer 401 insufficient_scope), a wrong password fails at /token.
	hub := e.registry(testregistry.Config{
		Auth: testregistry.AuthBearer, Service: "registry.docker.io",
		Users:  map[string]string{"hubuser": "hubpass"},
		Public: []string{"library/nginx"},
	}, "index.docker.io", "registry-1.docker.io")
	push(t, hub, "library/nginx:1.27")
	push(t, hub, "myorg/app:v1")

	// A Harbor-like registry with its own token service.
	reg := e.registry(testregistry.Config{
		Auth:   testregistry.AuthBearer,
		Users:  map[string]string{"alice": "right", "carol": "right"},
		Grants: map[string][]string{"carol": {"team/other"}},
	}, "reg.example.com", "a.b.example.com", "example.com")
	w.v1Digest = push(t, reg, "team/app:v1")
	w.appDigest = push(t, reg, "team/app:1.2")
	pushIndex(t, reg, "team/multi:v1", plat("linux/amd64"), plat("linux/arm64"))
	pushIndex(t, reg, "team/armonly:v1", plat("linux/arm64"))
	pushIndex(t, reg, "team/i386:v1", plat("linux/386"))
	pushIndex(t, reg, "team/armv7:v1", plat("linux/arm/v7"))
	pushIndex(t, reg, "team/attest:v1", plat("linux/arm64"), plat("unknown/unknown"))
	pushIndex(t, reg, "team/noplat:v1", nil)
	pushPlatformImage(t, reg, "team/armimage:v1", "linux/arm64")
	pushPlatformImage(t, reg, "team/winimage:ltsc2019", "windows/amd64:10.0.17763.6054")
	pushIndex(t, reg, "team/windows:ltsc2019", plat("windows/amd64:10.0.17763.6054"))
	if _, err := reg.PushManifest("team/schema1", "v1", types.DockerManifestSchema1Signed, []byte(`{"schemaVersion":1,"name":"team/schema1","tag":"v1"}`)); err != nil {
		t.Fatal(err)
	}

	// Hides private repositories behind 404 NAME_UNKNOWN.
	hide := e.registry(testregistry.Config{Auth: testregistry.AuthBasic, Users: map[string]string{"alice": "right"}, Deny: http.StatusNotFound}, "hide.example.com")
	push(t, hide, "team/app:v1")
	basic := e.registry(testregistry.Config{Auth: testregistry.AuthBasic, Users: map[string]string{"alice": "right"}}, "basic.example.com")
	push(t, basic, "team/app:v1")
	forbid := e.registry(testregistry.Config{
		Auth: testregistry.AuthBasic, Deny: http.StatusForbidden,
		Users:  map[string]string{"alice": "right", "dave": "right"},
		Grants: map[string][]string{"dave": {"team/other"}},
	}, "forbid.example.com")
	push(t, forbid, "team/app:v1")

	e.registry(testregistry.Config{}, "ratelimit.example.com").SetFault(testregistry.Fault{Status: http.StatusTooManyRequests, RetryAfter: "60"})
	e.registry(testregistry.Config{}, "down.example.com").SetFault(testregistry.Fault{Status: http.StatusServiceUnavailable, All: true})
	e.registry(testregistry.Config{}, "hang.example.com").SetFault(testregistry.Fault{Hang: true, All: true})
	e.registry(testregistry.Config{}, "huge.example.com").SetFault(testregistry.Fault{ManifestBytes: 50 << 20, NoHeadDigest: true})
	old := e.registry(testregistry.Config{}, "old.example.com")
	push(t, old, "team/app:v1")
	old.SetFault(testregistry.Fault{NoHeadDigest: true})
	otherCA, err := testregistry.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	e.registry(testregistry.Config{CA: otherCA}, "untrusted.example.com")

	silent, err := testregistry.NewSilent()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(silent.Close)
	e.net.AddAddr("silent.example.com", silent.Addr)

	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	w.plainAddr = strings.TrimPrefix(plain.URL, "http://")
	w.refusedAddr = closedPort(t)
	return w
}

// TestRows runs every rule of docs/pull-semantics.md §9 that the engine can answer without a node.
func TestRows(t *testing.T) {
	w := newWorld(t)
	regcred := func(key, user, password string) corev1.Secret {
		return dockerSecret("regcred", map[string]entry{key: {user: user, password: password}})
	}
	tests := map[string]struct {
		image     string
		secrets   []corev1.Secret
		platforms []string
		nodeCreds []string
		noPrivate bool
		timeout   time.Duration

		outcome   Outcome
		class     Class
		words     []string
		notes     []string
		credWords string
	}{
		// Rule 1: invalid references → InvalidImageName.
		"rule 1 uppercase repository": {image: "Nginx:1", outcome: NotPullable, class: ClassInvalidReference,
			words: []string{`image "Nginx:1" is not a valid reference`, "repository name must be lowercase", "InvalidImageName"}},
		"rule 1 bad tag": {image: "app:-x", outcome: NotPullable, class: ClassInvalidReference,
			words: []string{`"app:-x"`, "InvalidImageName"}},
		"rule 1 empty path component": {image: "foo//bar", outcome: NotPullable, class: ClassInvalidReference,
			words: []string{"InvalidImageName"}},
		"rule 1 short digest": {image: "repo@sha256:abc", outcome: NotPullable, class: ClassInvalidReference,
			words: []string{"InvalidImageName"}},
		"rule 1 64-hex name": {image: strings.Repeat("ab", 32), outcome: NotPullable, class: ClassInvalidReference,
			words: []string{"64", "InvalidImageName"}},
		// Rule 2.
		"rule 2 uppercase host": {image: "MyOrg/app:V1", outcome: NotPullable, class: ClassInvalidReference,
			words: []string{`"MyOrg" is parsed as a registry host because it contains uppercase letters; Docker Hub namespaces must be lowercase`, `"myorg/app:V1"`}},
		// Rule 3.
		"rule 3 wrong tag on Docker Hub": {image: "nginx:1.999", outcome: NotPullable, class: ClassTagNotFound,
			words: []string{`tag "1.999" not found in docker.io/library/nginx (registry returned 404 MANIFEST_UNKNOWN)`}},
		"rule 3 a tag one typo away is suggested": {image: "nginx:1.2O", outcome: NotPullable, class: ClassTagNotFound,
			words: []string{`tag "1.2O" not found in docker.io/library/nginx`, `(registry returned 404 MANIFEST_UNKNOWN); did you mean "1.27"?`}},
		// Rule 4.
		"rule 4 wrong repository on Docker Hub": {image: "nginxx", outcome: NotPullable, class: ClassUnauthorized,
			words: []string{"docker.io/library/nginxx: repository does not exist or requires credentials", "no imagePullSecret or node credential matches docker.io", "(401)"}},
		// Rule 5.
		"rule 5 wrong repository, 404 NAME_UNKNOWN": {image: "reg.example.com/team/nope:v1", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")},
			outcome: NotPullable, class: ClassRepositoryNotFound,
			words: []string{"repository reg.example.com/team/nope not found", "NAME_UNKNOWN"}},
		// Rules 6 and 27.
		"rule 6 host does not resolve": {image: "regsitry.example.com/team/app:v1", outcome: Unverifiable, class: ClassDNSFailure,
			words: []string{`registry host "regsitry.example.com" could not be resolved from the admission webhook; pods will likely fail with ErrImagePull`}},
		// Rule 7.
		"rule 7 private image, no secret": {image: "reg.example.com/team/app:v1", outcome: NotPullable, class: ClassUnauthorized,
			words: []string{"no imagePullSecret or node credential matches reg.example.com", "anonymous access was refused (401)"}},
		"rule 7 Docker Hub private image, no secret": {image: "myorg/app:v1", outcome: NotPullable, class: ClassUnauthorized,
			words: []string{"docker.io/myorg/app", "anonymous access was refused (401)"}},
		// Rule 8.
		"rule 8 secret for another registry": {image: "reg.example.com/team/app:v1", secrets: []corev1.Secret{regcred("quay.io", "alice", "right")},
			outcome: NotPullable, class: ClassUnauthorized,
			words: []string{`imagePullSecret "regcred" has entries for [quay.io] but none match reg.example.com/team/app`}},
		// Rule 9.
		"rule 9 wrong password": {image: "reg.example.com/team/app:v1", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "wrong")},
			outcome: NotPullable, class: ClassCredentialsRejected, credWords: `imagePullSecret "regcred"`,
			words: []string{`credentials in imagePullSecret "regcred" (key "reg.example.com") were rejected by the registry's token service (401)`, "the kubelet will not retry anonymously"}},
		// Rule 10.
		"rule 10 wrong secret for a public Docker Hub image": {image: "nginx:1.27", secrets: []corev1.Secret{dockerSecret("hubcred", map[string]entry{"docker.io": {user: "hubuser", password: "wrong"}})},
			outcome: NotPullable, class: ClassCredentialsRejected,
			words: []string{`imagePullSecret "hubcred" (key "docker.io")`, "rejected", "the kubelet will not retry anonymously"}},
		// Rule 11.
		"rule 11 wrong secret first, right secret second": {image: "reg.example.com/team/app:v1",
			secrets: []corev1.Secret{dockerSecret("old", map[string]entry{"reg.example.com": {user: "alice", password: "stale"}}), regcred("reg.example.com", "alice", "right")},
			outcome: Pullable, class: ClassOK, credWords: `imagePullSecret "regcred"`,
			notes: []string{`imagePullSecret "old" (key "reg.example.com") has invalid credentials`, "the next credential worked"}},
		// Rule 12.
		"rule 12 glob key": {image: "reg.example.com/team/app:v1", secrets: []corev1.Secret{regcred("*.example.com", "alice", "right")},
			outcome: Pullable, class: ClassOK, credWords: `(key "*.example.com")`},
		// Rule 13.
		"rule 13 glob covers one label only": {image: "a.b.example.com/team/app:v1", secrets: []corev1.Secret{regcred("*.example.com", "alice", "right")},
			outcome: NotPullable, class: ClassUnauthorized,
			words: []string{`key "*.example.com" matches exactly one DNS label per "*"; it does not cover a.b.example.com`}},
		"rule 13 glob does not cover the bare domain": {image: "example.com/team/app:v1", secrets: []corev1.Secret{regcred("*.example.com", "alice", "right")},
			outcome: NotPullable, class: ClassUnauthorized,
			words: []string{`has entries for [*.example.com] but none match example.com/team/app`}},
		// Rule 14.
		"rule 14 key without the port": {image: "reg.example.com:5000/team/app:v1", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")},
			outcome: NotPullable, class: ClassUnauthorized,
			words: []string{`key "reg.example.com" does not match port 5000`}},
		// Rule 15.
		"rule 15 key docker.io for a Hub image": {image: "myorg/app:v1", secrets: []corev1.Secret{regcred("docker.io", "hubuser", "hubpass")},
			outcome: Pullable, class: ClassOK, credWords: `(key "docker.io")`},
		"rule 15 kubectl default key for a Hub image": {image: "myorg/app:v1", secrets: []corev1.Secret{regcred("https://index.docker.io/v1/", "hubuser", "hubpass")},
			outcome: Pullable, class: ClassOK, credWords: `(key "https://index.docker.io/v1/")`},
		// Rule 16.
		"rule 16 path-scoped legacy host": {image: "myorg/app:v1", secrets: []corev1.Secret{regcred("index.docker.io/myorg", "hubuser", "hubpass")},
			outcome: NotPullable, class: ClassUnauthorized,
			words: []string{`key "index.docker.io/myorg" is never matched by the kubelet; use "docker.io/myorg" or "https://index.docker.io/v1/"`}},
		// Rule 20: the Opaque secret is skipped and the pull is anonymous.
		"rule 20 Opaque secret": {image: "reg.example.com/team/app:v1",
			secrets: []corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Name: "regcred"}, Type: corev1.SecretTypeOpaque,
				Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"reg.example.com":{"username":"alice","password":"right"}}}`)}}},
			outcome: NotPullable, class: ClassUnauthorized, words: []string{"anonymous access was refused"},
			notes: []string{`secret "regcred" has type Opaque`}},
		// Rule 21.
		"rule 21 invalid base64 in auth": {image: "reg.example.com/team/app:v1", secrets: []corev1.Secret{dockerSecret("regcred", map[string]entry{"reg.example.com": {auth: "!!!not-base64"}})},
			outcome: NotPullable, class: ClassInvalidPullSecret,
			words: []string{`imagePullSecret "regcred": auth field is not base64(username:password)`}},
		// Rule 22.
		"rule 22 identitytoken only": {image: "reg.example.com/team/app:v1", secrets: []corev1.Secret{dockerSecret("regcred", map[string]entry{"reg.example.com": {identityToken: "tok"}})},
			outcome: NotPullable, class: ClassUnauthorized,
			words: []string{"identitytoken/registrytoken in imagePullSecrets are ignored by the kubelet", "anonymous access was refused (401)"}},
		// Rule 25 (a non-Hub registry; TestDockerHubRateLimit covers the Hub wording).
		"rule 25 rate limited": {image: "ratelimit.example.com/team/app:v1", outcome: Unverifiable, class: ClassRateLimited,
			words: []string{"rate limit hit while verifying ratelimit.example.com/team/app:v1", "429", "Retry-After 60", "authenticate pulls or use a mirror"}},
		// Rule 26.
		"rule 26 registry answers 503": {image: "down.example.com/team/app:v1", outcome: Unverifiable, class: ClassRegistryUnavailable,
			words: []string{"registry down.example.com unavailable (503", "pull may fail"}},
		"rule 26 connection refused": {image: w.refusedAddr + "/team/app:v1", outcome: Unverifiable, class: ClassRegistryUnavailable,
			words: []string{"connection refused"}},
		"rule 26 registry accepts connections and never answers": {image: "silent.example.com/team/app:v1", timeout: 300 * time.Millisecond, outcome: Unverifiable, class: ClassTimeout,
			words: []string{"silent.example.com"}},
		"rule 26 registry hangs": {image: "hang.example.com/team/app:v1", timeout: 300 * time.Millisecond, outcome: Unverifiable, class: ClassTimeout,
			words: []string{"hang.example.com"}},
		// Rule 28.
		"rule 28 private CA unknown to the webhook": {image: "untrusted.example.com/team/app:v1", outcome: Unverifiable, class: ClassTLSFailure,
			words: []string{"TLS verification failed for untrusted.example.com from the webhook", "certificate signed by unknown authority", "nodes may trust a different CA"}},
		// net/http turns the TLS record error into an untyped "server gave HTTP response to HTTPS
		// client"; what remains typed is the guard's refusal of go-containerregistry's
		// plain-HTTP fallback for loopback names.
		"plain-HTTP registry": {image: w.plainAddr + "/team/app:v1", outcome: Unverifiable, class: ClassBlocked,
			words: []string{"would need plain HTTP", "--insecure-registries"}},
		// Rules 29-32.
		"rule 29 no platform for any candidate": {image: "reg.example.com/team/armonly:v1", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")}, platforms: []string{"linux/amd64"},
			outcome: NotPullable, class: ClassPlatformMissing,
			words: []string{"image has no linux/amd64 manifest (available: linux/arm64); candidate nodes are linux/amd64"}},
		"rule 29 attestation manifests never match": {image: "reg.example.com/team/attest:v1", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")}, platforms: []string{"linux/amd64"},
			outcome: NotPullable, class: ClassPlatformMissing,
			words: []string{"(available: linux/arm64)"}},
		"rule 30 platform for some candidates": {image: "reg.example.com/team/armonly:v1", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")}, platforms: []string{"linux/amd64", "linux/arm64"},
			outcome: Pullable, class: ClassOK,
			notes: []string{"no linux/amd64 manifest; pods scheduled on linux/amd64 nodes will fail: add nodeSelector kubernetes.io/arch=arm64"}},
		"rule 30 multi-arch index": {image: "reg.example.com/team/multi:v1", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")}, platforms: []string{"linux/amd64", "linux/arm64"},
			outcome: Pullable, class: ClassOK},
		"rule 31 single manifest without a platform in its config": {image: "reg.example.com/team/app:v1", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")}, platforms: []string{"linux/s390x"},
			outcome: Pullable, class: ClassOK},
		"rule 31 single manifest of another platform pulls, with a note": {image: "reg.example.com/team/armimage:v1", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")}, platforms: []string{"linux/amd64"},
			outcome: Pullable, class: ClassOK,
			notes: []string{"image is built for linux/arm64 only but the candidate nodes are linux/amd64: it will pull, then the container fails with exec format error (CrashLoopBackOff); build it for linux/amd64"}},
		"rule 29 a Windows image for another build": {image: "reg.example.com/team/windows:ltsc2019", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")}, platforms: []string{"windows/amd64:10.0.20348"},
			outcome: NotPullable, class: ClassPlatformMissing,
			words: []string{"image has no windows(10.0.20348)/amd64 manifest (available: windows(10.0.17763.6054)/amd64)"}},
		"rule 31 a single Windows image for another build": {image: "reg.example.com/team/winimage:ltsc2019", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")}, platforms: []string{"windows/amd64:10.0.20348"},
			outcome: Pullable, class: ClassOK,
			notes: []string{"image is built for windows(10.0.17763.6054)/amd64, which windows(10.0.20348)/amd64 nodes do not run: it will pull, then the container fails to start"}},
		"rule 31 single manifest for some candidates": {image: "reg.example.com/team/armimage:v1", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")}, platforms: []string{"linux/amd64", "linux/arm64"},
			outcome: Pullable, class: ClassOK,
			notes: []string{"image is built for linux/arm64 only; containers on linux/amd64 nodes will fail with exec format error: add nodeSelector kubernetes.io/arch=arm64"}},
		"rule 32 amd64 node runs 386": {image: "reg.example.com/team/i386:v1", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")}, platforms: []string{"linux/amd64"},
			outcome: Pullable, class: ClassOK},
		"rule 32 arm64 node runs arm/v7": {image: "reg.example.com/team/armv7:v1", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")}, platforms: []string{"linux/arm64"},
			outcome: Pullable, class: ClassOK},
		"rule 32 child without platform matches": {image: "reg.example.com/team/noplat:v1", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")}, platforms: []string{"windows/amd64"},
			outcome: Pullable, class: ClassOK},
		// Rules 36-39.
		"rule 36 digest exists": {image: "reg.example.com/team/app@" + w.appDigest.String(), secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")},
			outcome: Pullable, class: ClassOK},
		"rule 37 digest missing": {image: "reg.example.com/team/app@sha256:" + strings.Repeat("1", 64), secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")},
			outcome: NotPullable, class: ClassDigestNotFound,
			words: []string{"digest sha256:" + strings.Repeat("1", 64) + " not found in reg.example.com/team/app"}},
		"rule 38 tag and digest": {image: "reg.example.com/team/app:1.2@" + w.appDigest.String(), secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")},
			outcome: Pullable, class: ClassOK,
			notes: []string{`tag "1.2" is ignored by the runtime; it pulls ` + w.appDigest.String()}},
		"rule 38 tag moved away from the digest": {image: "reg.example.com/team/app:v1@" + w.appDigest.String(), secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")},
			outcome: Pullable, class: ClassOK,
			notes: []string{`tag "v1" is ignored by the runtime; it pulls ` + w.appDigest.String(),
				`tag "v1" now points to ` + w.v1Digest.String() + `, not to the pinned digest; the runtime pulls the pinned digest`}},
		// go-containerregistry v0.22.1 hashes sha512 (v0.21.9 did not: docs/pull-semantics.md §1.6.4), so
		// a sha512 reference is probed; sha384 is still out of its reach.
		"rule 39 sha384 digest": {image: "reg.example.com/team/app@sha384:" + strings.Repeat("a", 96), outcome: Unverifiable, class: ClassUnsupportedDigest,
			words: []string{"sha384 digests cannot be verified by the webhook"}},
		"rule 39 sha512 digest is probed": {image: "reg.example.com/team/app@sha512:" + strings.Repeat("a", 128), secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")},
			outcome: NotPullable, class: ClassDigestNotFound, words: []string{"digest sha512:"}},
		// Rule 44.
		"rule 44 schema1": {image: "reg.example.com/team/schema1:v1", secrets: []corev1.Secret{regcred("reg.example.com", "alice", "right")},
			outcome: NotPullable, class: ClassUnsupportedMediaType,
			words: []string{"Docker schema1 manifests are not supported by the node runtime"}},
		// Rule 46.
		"rule 46 registry-1.docker.io with a docker.io key": {image: "registry-1.docker.io/myorg/app:v1", secrets: []corev1.Secret{regcred("docker.io", "hubuser", "hubpass")},
			outcome: NotPullable, class: ClassUnauthorized,
			words: []string{`key "docker.io" does not cover registry-1.docker.io`}},

		// docs/pull-semantics.md §7.3: registries that hide private repositories, Basic auth, 403.
		"private repository hidden behind 404": {image: "hide.example.com/team/app:v1", outcome: NotPullable, class: ClassRepositoryNotFound,
			words: []string{"repository hide.example.com/team/app not found", "some registries answer 404 for private repositories"}},
		"private repository hidden behind 404, with credentials": {image: "hide.example.com/team/app:v1", secrets: []corev1.Secret{regcred("hide.example.com", "alice", "right")},
			outcome: Pullable, class: ClassOK},
		"basic auth": {image: "basic.example.com/team/app:v1", secrets: []corev1.Secret{regcred("basic.example.com", "alice", "right")},
			outcome: Pullable, class: ClassOK},
		"basic auth wrong password": {image: "basic.example.com/team/app:v1", secrets: []corev1.Secret{regcred("basic.example.com", "alice", "wrong")},
			outcome: NotPullable, class: ClassUnauthorized,
			words: []string{`basic.example.com refused imagePullSecret "regcred" (key "basic.example.com") (401`, "will not retry anonymously"}},
		"bearer account without access": {image: "reg.example.com/team/app:v1", secrets: []corev1.Secret{regcred("reg.example.com", "carol", "right")},
			outcome: NotPullable, class: ClassUnauthorized,
			words: []string{`imagePullSecret "regcred"`, "401"}},
		"403 for an account without access": {image: "forbid.example.com/team/app:v1", secrets: []corev1.Secret{regcred("forbid.example.com", "dave", "right")},
			outcome: NotPullable, class: ClassForbidden,
			words: []string{`imagePullSecret "regcred" (key "forbid.example.com") has no pull access (403 Forbidden`}},
		"403 for anonymous": {image: "forbid.example.com/team/app:v1", outcome: NotPullable, class: ClassForbidden,
			words: []string{"anonymous pull denied by forbid.example.com (403 Forbidden)"}},
		"wrong password then 404": {image: "reg.example.com/team/app:v9",
			secrets: []corev1.Secret{dockerSecret("old", map[string]entry{"reg.example.com": {user: "alice", password: "stale"}}), regcred("reg.example.com", "alice", "right")},
			outcome: NotPullable, class: ClassTagNotFound, words: []string{`tag "v9" not found`},
			notes: []string{`imagePullSecret "old" (key "reg.example.com") also failed: rejected by the registry's token service (401)`}},

		// Node credentials (docs/pull-semantics.md §3.3): the webhook does not hold them.
		"node credentials, 401": {image: "reg.example.com/team/app:v1", nodeCreds: []string{"*.example.com"}, outcome: Unverifiable, class: ClassNodeCredentials,
			words: []string{"credentials for reg.example.com/team/app come from the nodes; not verified"}},
		"node credentials, missing tag is still certain": {image: "nginx:1.999", nodeCreds: []string{"docker.io"}, outcome: NotPullable, class: ClassTagNotFound},

		// The network guard.
		"private address without allowlist": {image: "reg.example.com/team/app:v1", noPrivate: true, outcome: Unverifiable, class: ClassBlocked,
			words: []string{`registry host "reg.example.com" resolves to 127.0.0.`, "loopback", "--allow-private-registries"}},
		// Malformed answers.
		"HEAD without digest falls back to GET": {image: "old.example.com/team/app:v1", outcome: Pullable, class: ClassOK},
		"50 MiB manifest": {image: "huge.example.com/team/app:v1", outcome: Unverifiable, class: ClassInvalidResponse,
			words: []string{"huge.example.com", "larger than the 4 MiB limit"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := w.env.options()
			opts.NodeCredentialRegistries = tc.nodeCreds
			if tc.noPrivate {
				opts.Egress.AllowPrivate = nil
			}
			c := w.env.checker(opts)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			v := c.Check(ctx, Request{Image: tc.image, Keyring: keyringOf(tc.secrets...), Platforms: ociPlats(tc.platforms...), TrustedCaller: true})
			t.Logf("%s/%s (credential %s): %s; notes %q", v.Outcome, v.Class, v.Credential, v.Message(), v.Notes)
			assertVerdict(t, v, tc.outcome, tc.class, tc.words, tc.notes)
			if tc.credWords != "" && !strings.Contains(v.Credential, tc.credWords) {
				t.Errorf("credential = %q, want it to name %q", v.Credential, tc.credWords)
			}
			if tc.timeout != 0 && time.Since(start) > tc.timeout+time.Second {
				t.Errorf("check took %s with a %s deadline", time.Since(start), tc.timeout)
			}
			if v.Outcome == Pullable && v.Digest == "" {
				t.Errorf("pullable verdict without digest")
			}
			if v.Image != tc.image {
				t.Errorf("Image = %q, want %q", v.Image, tc.image)
			}

			// The same check for a caller that is not trusted: the same outcome and class,
			// and nothing that says which secrets exist, what they hold or which failed.
			u := c.Check(ctx, Request{Image: tc.image, Keyring: keyringOf(tc.secrets...), Platforms: ociPlats(tc.platforms...)})
			if u.Outcome != v.Outcome || u.Class != v.Class {
				t.Errorf("untrusted caller: %s/%s, trusted %s/%s", u.Outcome, u.Class, v.Outcome, v.Class)
			}
			assertRevealsNoSecret(t, u, tc.secrets)
		})
	}
	if refused := w.env.net.Refused(); len(refused) > 0 {
		t.Errorf("dials to non-loopback addresses were attempted: %v", refused)
	}
}

// TestDockerHubRateLimit checks the Docker Hub wording of a 429 (docs/pull-semantics.md rule 25).
func TestDockerHubRateLimit(t *testing.T) {
	e := newEnv(t)
	hub := e.registry(testregistry.Config{Auth: testregistry.AuthBearer, Public: []string{"library/nginx"}}, "registry-1.docker.io")
	push(t, hub, "library/nginx:1.27")
	hub.SetFault(testregistry.Fault{Status: http.StatusTooManyRequests, RetryAfter: "120"})
	c := e.checker(e.options())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v := c.Check(ctx, Request{Image: "nginx:1.27"})
	assertVerdict(t, v, Unverifiable, ClassRateLimited,
		[]string{"Docker Hub rate limit hit while verifying docker.io/library/nginx:1.27", "ErrImagePull (429)", "Retry-After 120", "authenticate pulls or use a mirror"}, nil)
	if v.RetryAfter != 2*time.Minute {
		t.Errorf("RetryAfter = %s, want the registry's 2m0s", v.RetryAfter)
	}
	if n := hub.Count(testregistry.KindManifestHead); n != 1 {
		t.Errorf("manifest HEADs = %d, want 1: a 429 is never retried", n)
	}
	if n := hub.Count(testregistry.KindManifestGet); n != 0 {
		t.Errorf("manifest GETs = %d, want 0", n)
	}
}
