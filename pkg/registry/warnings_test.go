package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/registry/keyring"
	"github.com/pullguard/pullguard/pkg/registry/reference"
)

// The longest names a pod spec can hold: a 253-character registry host, a repository path at
// distribution's 255-character limit, a 128-character tag, a digest, and the longest field path
// and DNS-subdomain secret name.
var (
	longHost   = strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)
	longPath   = strings.Repeat("abcdefgh/", 28) + "app"
	longTag    = "v" + strings.Repeat("1", 127)
	longDigest = "sha256:" + strings.Repeat("a", 64)
	longSecret = strings.Repeat("s", 253)
	// longWarningPrefix is how admission opens a warning about the deepest image field.
	longWarningPrefix = "spec.jobTemplate.spec.template.spec.ephemeralContainers[99].image: pullguard: "
)

// TestEveryMessageFitsAWarningWhole renders every message the engine writes (every Verdict
// class and message path, and every note) for the longest image a pod can name, turns each into
// a warning as admission does (the fix dropped when message and fix do not fit, then Fit), and
// checks that it fits MaxWarningRunes and is whole: the text as written, or whole clauses of it,
// or cut after a whole word with "…".
func TestEveryMessageFitsAWarningWhole(t *testing.T) {
	both := longHost + "/" + longPath + ":" + longTag + "@" + longDigest
	for name, v := range everyVerdict(t, both) {
		t.Run(name, func(t *testing.T) {
			if v.Outcome != Pullable {
				full := longWarningPrefix + v.Message()
				if utf8.RuneCountInString(full) > MaxWarningRunes && v.Detail != "" {
					full = longWarningPrefix + v.Detail
				}
				assertWholeWarning(t, full, Fit(full, MaxWarningRunes))
			}
			for _, n := range v.Notes {
				note := longWarningPrefix + n
				assertWholeWarning(t, note, Fit(note, MaxWarningRunes))
			}
		})
	}
}

// assertWholeWarning checks that w, shown for full, fits and is whole: full, word for word,
// except for long words replaced by "…", dropped clauses, and a cut after a whole word.
func assertWholeWarning(t *testing.T, full, w string) {
	t.Helper()
	if n := utf8.RuneCountInString(w); n > MaxWarningRunes || !utf8.ValidString(w) {
		t.Fatalf("warning of %d runes (limit %d) or invalid UTF-8: %q", n, MaxWarningRunes, w)
	}
	got, want := strings.Split(w, " "), strings.Split(full, " ")
	if len(got) > len(want) {
		t.Fatalf("warning %q has more words than %q", w, full)
	}
	for i, word := range got {
		whole := want[i]
		opening := whole[:len(whole)-len(strings.TrimLeft(whole, `(["`))]
		closing := whole[len(strings.TrimRight(whole, `;,:.)]"`)):]
		switch {
		case word == whole, word == opening+"…"+closing:
		case i == len(got)-1 && (word == strings.TrimRight(whole, ";,:") || word == strings.TrimRight(whole, ";,:")+"…" ||
			word == opening+"…"+strings.TrimRight(closing, ";,:")):
			// The last word, before a dropped clause or a cut.
		default:
			t.Fatalf("word %d of warning %q is %q, a cut of %q", i, w, word, whole)
		}
	}
	if !strings.HasPrefix(w, longWarningPrefix) || strings.Trim(strings.TrimPrefix(w, longWarningPrefix), "… ") == "" {
		t.Fatalf("the field path or all of the message is lost: %q", w)
	}
}

// everyVerdict builds one verdict per message path of the engine for image (a tag and a
// digest); notes are the notes of that path.
func everyVerdict(t *testing.T, image string) map[string]Verdict {
	t.Helper()
	ref := mustParse(t, image)
	tagged := mustParse(t, longHost+"/"+longPath+":"+longTag)
	digested := mustParse(t, longHost+"/"+longPath+"@"+longDigest)
	uppercase := mustParse(t, strings.Repeat("A", 63)+"/"+longPath[:255-64]+":"+longTag)
	sha512 := mustParse(t, longHost+"/"+longPath+":"+longTag+"@sha512:"+strings.Repeat("b", 128))

	// A keyring none of whose keys match, with near misses, an ignored secret and a
	// tokens-only entry, all from secrets with the longest names.
	nearMiss := keyring.FromSecrets([]corev1.Secret{
		dockerSecret(longSecret, map[string]entry{
			"*." + longHost[64:]:      {user: "u", password: "p"},
			longHost + ":5000":        {user: "u", password: "p"},
			longHost + "/other/path":  {user: "u", password: "p"},
			strings.ToUpper(longHost): {user: "u", password: "p"},
		}),
		{ObjectMeta: metav1.ObjectMeta{Name: longSecret[1:]}, Type: corev1.SecretTypeOpaque},
	})
	matched := keyring.FromSecrets([]corev1.Secret{
		dockerSecret(longSecret, map[string]entry{longHost: {user: "u", password: "p"}}),
		dockerSecret(longSecret[2:], map[string]entry{longHost + "/" + longPath[:200]: {identityToken: "t"}}),
	})
	invalidSecret := keyring.FromSecrets([]corev1.Secret{{
		ObjectMeta: metav1.ObjectMeta{Name: longSecret}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"` + longHost + `":{"auth":"bm9jb2xvbg=="}}}`)},
	}})

	candidates := ociPlats("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le", "linux/s390x", "windows/amd64")
	candidates = append(candidates, ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348"},
		ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763"})
	candidates = normalizePlatforms(candidates)

	newProbe := func(ref *reference.Reference, k *keyring.Keyring) *probe {
		repo := keyring.ParseRepo(ref.Repository)
		return &probe{
			ref: ref, repo: &repo, creds: k.Lookup(repo), keyring: k, maxKeys: DefaultLimits().MaxListedKeys, ignored: k.Ignored(),
			platforms: candidates, trace: &trace{retryAfter: "Wed, 21 Oct 2026 07:28:00 GMT"},
		}
	}
	anonymous, withCred := newProbe(ref, nearMiss), newProbe(ref, matched)
	cred := &withCred.creds[0]
	httpFailure := func(status int, codes ...transport.ErrorCode) failure {
		te := &transport.Error{StatusCode: status, Request: &http.Request{Method: http.MethodGet, URL: mustURL(t, "https://"+longHost+"/v2/"+longPath+"/manifests/"+longTag)}}
		for _, c := range codes {
			te.Errors = append(te.Errors, transport.Diagnostic{Code: c, Message: strings.Repeat("registry says no ", 20)})
		}
		return classify(te)
	}
	tokenRejected := classify(&transport.Error{StatusCode: http.StatusUnauthorized, Request: &http.Request{Method: http.MethodGet, URL: mustURL(t, "https://auth."+longHost[5:]+"/token")}})
	manifestUnknown := httpFailure(http.StatusNotFound, transport.ManifestUnknownErrorCode)
	nameUnknown := httpFailure(http.StatusNotFound, transport.NameUnknownErrorCode)
	unauthorized := httpFailure(http.StatusUnauthorized, transport.UnauthorizedErrorCode, transport.DeniedErrorCode)
	forbidden := httpFailure(http.StatusForbidden, transport.DeniedErrorCode)

	failed := []attempt{
		{cred: cred, f: forbidden},
		{cred: &withCred.creds[1], f: tokenRejected},
		{cred: cred, f: manifestUnknown},
	}
	out := map[string]Verdict{}
	add := func(name string, v Verdict) {
		t.Helper()
		if v.Detail == "" && v.Outcome != Pullable {
			t.Fatalf("%s: no message", name)
		}
		out[name] = v
	}
	definite := func(p *probe, a attempt, extra ...attempt) Verdict {
		return p.definite(append([]attempt{a}, extra...))
	}
	add("tag not found, anonymous", definite(newProbe(tagged, nearMiss), attempt{f: manifestUnknown}))
	hinted := definite(newProbe(tagged, matched), attempt{cred: cred, f: manifestUnknown}, failed...)
	hinted.Fix = "did you mean " + joinOr([]string{strconv.Quote(longTag[:127] + "2"), strconv.Quote(longTag[:127] + "3"), strconv.Quote(strings.ToUpper(longTag))}) + "?"
	add("tag not found, with a hint", hinted)
	add("digest not found", definite(newProbe(digested, matched), attempt{cred: cred, f: manifestUnknown}))
	add("repository not found, anonymous", definite(anonymous, attempt{f: nameUnknown}))
	add("repository not found, credential", definite(withCred, attempt{cred: cred, f: nameUnknown}))
	add("anonymous 401", definite(anonymous, attempt{f: unauthorized}))
	add("anonymous 403", definite(anonymous, attempt{f: forbidden}))
	add("tokens-only credential 401", definite(withCred, attempt{cred: &withCred.creds[1], f: unauthorized}))
	add("credentials rejected", definite(withCred, attempt{cred: cred, f: tokenRejected}, failed...))
	add("credential 403", definite(withCred, attempt{cred: cred, f: forbidden}))
	add("credential 401", definite(withCred, attempt{cred: cred, f: unauthorized}))
	nodes := newProbe(ref, matched)
	nodes.nodeCredentials = true
	add("node credentials", definite(nodes, attempt{cred: cred, f: forbidden}, failed...))

	mirror := longHost[:250] + ":5000"
	mirrorRefused := unauthorized
	mirrorRefused.definite, mirrorRefused.mirror = false, mirror
	add("mirror refused", anonymous.unverifiable(mirrorRefused, failed))
	for name, err := range map[string]error{
		"rate limited":      &transport.Error{StatusCode: http.StatusTooManyRequests},
		"unavailable":       &transport.Error{StatusCode: http.StatusServiceUnavailable},
		"dns":               &net.DNSError{Name: longHost, Err: "no such host"},
		"timeout":           fmt.Errorf("HEAD: %w", context.DeadlineExceeded),
		"invalid response":  errors.New("unexpected response " + strings.Repeat("garbage ", 60)),
		"unexpected status": &transport.Error{StatusCode: http.StatusTeapot, Errors: []transport.Diagnostic{{Code: "TEAPOT", Message: strings.Repeat("é", 300)}}},
	} {
		f := classify(err)
		add("unverifiable "+name, anonymous.unverifiable(f, failed))
		f.mirror = mirror
		add("unverifiable on a mirror "+name, anonymous.unverifiable(f, failed))
	}
	blocked := failure{class: ClassBlocked, host: longHost, cause: fmt.Sprintf("registry host %q resolves to 10.0.0.1, a private address", longHost)}
	add("blocked", anonymous.unverifiable(blocked, nil))
	blocked.plainHTTP = true
	add("blocked plain HTTP", anonymous.unverifiable(blocked, nil))
	add("tls", anonymous.unverifiable(failure{class: ClassTLSFailure, host: longHost, cause: "certificate is not valid for " + longHost}, nil))
	hub := newProbe(mustParse(t, "docker.io/"+longPath+":"+longTag), nearMiss)
	add("Docker Hub rate limit", hub.unverifiable(classify(&transport.Error{StatusCode: http.StatusTooManyRequests}), nil))
	add("Docker Hub's host not resolved", hub.unverifiable(classify(&net.DNSError{Name: "registry-1.docker.io", Err: "no such host"}), nil))
	singleLabel := newProbe(mustParse(t, "registry:5000/"+longPath+":"+longTag), nearMiss)
	add("single-label host not resolved", singleLabel.unverifiable(classify(&net.DNSError{Name: "registry", Err: "no such host"}), nil))
	typo := newProbe(mustParse(t, "dokcer.io/"+longPath+":"+longTag), nearMiss)
	add("registry typo not resolved", typo.unverifiable(classify(&net.DNSError{Name: "dokcer.io", Err: "no such host"}), nil))

	_, invalidErr := reference.Parse(longHost + "/" + longPath + ":" + longTag + "!")
	add("invalid reference", invalidReference(invalidErr))
	_, tooLong := reference.Parse(longHost + "/" + longPath + "x:" + longTag)
	add("invalid reference, too long", invalidReference(tooLong))
	add("uppercase host", uppercaseHost(uppercase))
	add("invalid pull secret", invalidPullSecret(ref, invalidSecret.Err()))
	add("unsupported digest", unsupportedDigest(sha512, "sha512"))
	add("unaddressable", unaddressable(ref, fmt.Errorf("go-containerregistry cannot parse %q: %w", ref.Pull, errors.New("repository can only contain the characters `abcdefghijklmnopqrstuvwxyz0123456789_-./`"))))
	add("schema1", schema1(ref, types.DockerManifestSchema1Signed))
	add("timeout", TimeoutVerdict(image, 7999*time.Millisecond))
	add("timeout without a budget", TimeoutVerdict(image, 0))

	children := []*v1.Platform{plat("linux/amd64"), plat("linux/arm64"), {OS: "unknown", Architecture: "unknown"}}
	add("platform missing", platformMissing(withCred, matchPlatforms([]*v1.Platform{plat("linux/riscv64"), plat("freebsd/amd64"), plat("linux/mips64le")}, candidates), DefaultLimits().MaxListedPlatforms))

	// Pullable verdicts carry only notes.
	pullableNotes := []string{
		tagIgnoredNote(ref),
		tagDriftNote(ref, "sha256:"+strings.Repeat("b", 64)),
		somePlatformsNote(matchPlatforms(children, candidates)),
		singlePlatformMessage(plat("linux/arm64"), candidates),
		singlePlatformMessage(plat("linux/arm64"), ociPlats("linux/amd64", "linux/s390x", "linux/ppc64le")),
		singlePlatformMessage(&v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.26100.1"}, candidates),
		staleNote(anonymous.unverifiable(classify(&transport.Error{StatusCode: http.StatusBadGateway}), failed), 3*time.Hour),
		alsoFailedNote(failed[1]),
	}
	pullableNotes = append(pullableNotes, workedAfter(failed)...)
	pullableNotes = append(pullableNotes, earlierFailures(failed)...)
	add("pullable", Verdict{Outcome: Pullable, Class: ClassOK, Notes: pullableNotes})
	for name, v := range out {
		for _, n := range v.Notes {
			if n == "" {
				t.Fatalf("%s: an empty note", name)
			}
		}
	}
	return out
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustParse(t *testing.T, image string) *reference.Reference {
	t.Helper()
	ref, err := reference.Parse(image)
	if err != nil {
		t.Fatalf("Parse(%q): %v", image, err)
	}
	return ref
}
