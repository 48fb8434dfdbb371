package keyring

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func cred(secret, key, user, pass string) Credential {
	return Credential{Username: user, Password: pass, Secret: secret, Key: key}
}

// TestLookup covers the keyring rules of docs/pull-semantics.md §2.2–2.4 (every row of the §2.4 table) and rules
// 8, 12–16, 20, 22 and 46. explain lists keywords that must appear in one line of Explain(repo);
// a nil explain asserts Explain returns nothing.
func TestLookup(t *testing.T) {
	tests := map[string]struct {
		secrets []corev1.Secret
		repo    string
		want    []Credential
		explain [][]string
		ignored [][]string
	}{
		// docs/pull-semantics.md §2.4 table
		"kubectl default key is used for Docker Hub through the fallback": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("hub", map[string]entryJSON{"https://index.docker.io/v1/": userPass("u", "p")})},
			repo:    "docker.io/myorg/app",
			want:    []Credential{cred("hub", "https://index.docker.io/v1/", "u", "p")},
		},
		"docker.io key matches directly (rule 15)": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("hub", map[string]entryJSON{"docker.io": userPass("u", "p")})},
			repo:    "docker.io/myorg/app",
			want:    []Credential{cred("hub", "docker.io", "u", "p")},
		},
		"docker.io/myorg key matches its namespace": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("hub", map[string]entryJSON{"docker.io/myorg": userPass("u", "p")})},
			repo:    "docker.io/myorg/app",
			want:    []Credential{cred("hub", "docker.io/myorg", "u", "p")},
		},
		"index.docker.io/myorg is never matched (rule 16)": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("hub", map[string]entryJSON{"index.docker.io/myorg": userPass("u", "p")})},
			repo:    "docker.io/myorg/app",
			explain: [][]string{
				{`imagePullSecret "hub" has entries for [index.docker.io/myorg] but none match docker.io/myorg/app`},
				{`key "index.docker.io/myorg"`, "never matched by the kubelet", `"docker.io/myorg"`, `"https://index.docker.io/v1/"`},
			},
		},
		"registry-1.docker.io key does not match Docker Hub names": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("hub", map[string]entryJSON{"registry-1.docker.io": userPass("u", "p")})},
			repo:    "docker.io/myorg/app",
			explain: [][]string{{`has entries for [registry-1.docker.io] but none match docker.io/myorg/app`}},
		},
		"/v1/ key and docker.io key: only docker.io is used": {
			secrets: []corev1.Secret{
				dockerConfigJSONSecret("old", map[string]entryJSON{"https://index.docker.io/v1/": userPass("old-u", "old-p")}),
				dockerConfigJSONSecret("new", map[string]entryJSON{"docker.io": userPass("new-u", "new-p")}),
			},
			repo:    "docker.io/myorg/app",
			want:    []Credential{cred("new", "docker.io", "new-u", "new-p")},
			explain: [][]string{{`imagePullSecret "old"`, `"https://index.docker.io/v1/"`, "is not used", "only when no other key matches"}},
		},
		"glob covers exactly one DNS label (rule 13)": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("regcred", map[string]entryJSON{"*.example.com": userPass("u", "p")})},
			repo:    "a.b.example.com/x",
			explain: [][]string{{`imagePullSecret "regcred" key "*.example.com"`, "exactly one DNS label", "does not cover a.b.example.com"}},
		},
		"glob does not cover the bare domain (rule 13)": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("regcred", map[string]entryJSON{"*.example.com": userPass("u", "p")})},
			repo:    "example.com/x",
			explain: [][]string{{`"*.example.com"`, "exactly one DNS label", "does not cover example.com"}},
		},
		"key without a port does not match :5000 (rule 14)": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("regcred", map[string]entryJSON{"reg.example.com": userPass("u", "p")})},
			repo:    "reg.example.com:5000/x",
			explain: [][]string{{`key "reg.example.com"`, "does not match port 5000"}},
		},
		// docs/pull-semantics.md §9
		"secret keyed for another registry (rule 8)": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("regcred", map[string]entryJSON{"quay.io": userPass("u", "p")})},
			repo:    "reg.example.com/team/app",
			explain: [][]string{{`imagePullSecret "regcred" has entries for [quay.io] but none match reg.example.com/team/app`}},
		},
		"glob matches one label (rule 12)": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("regcred", map[string]entryJSON{"*.example.com": userPass("u", "p")})},
			repo:    "reg.example.com/x",
			want:    []Credential{cred("regcred", "*.example.com", "u", "p")},
		},
		"Opaque secret holding .dockerconfigjson is ignored (rule 20)": {
			secrets: []corev1.Secret{rawSecret("regcred", corev1.SecretTypeOpaque, corev1.DockerConfigJsonKey, `{"auths":{"reg.example.com":{"username":"u","password":"p"}}}`)},
			repo:    "reg.example.com/x",
			ignored: [][]string{{`secret "regcred" has type Opaque; the kubelet only uses kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg`}},
		},
		"identitytoken-only entry gives an anonymous credential (rule 22)": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("regcred", map[string]entryJSON{"reg.example.com": {"identitytoken": "tok-123"}})},
			repo:    "reg.example.com/x",
			want:    []Credential{cred("regcred", "reg.example.com", "", "")},
			explain: [][]string{{`imagePullSecret "regcred" key "reg.example.com"`, "identitytoken/registrytoken", "kubelet ignores", "anonymously"}},
		},
		"registrytoken-only entry gives an anonymous credential (rule 22)": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("regcred", map[string]entryJSON{"reg.example.com": {"registrytoken": "tok-123"}})},
			repo:    "reg.example.com/x",
			want:    []Credential{cred("regcred", "reg.example.com", "", "")},
			explain: [][]string{{"identitytoken/registrytoken"}},
		},
		"identitytoken next to username/password is dropped silently": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("regcred", map[string]entryJSON{"reg.example.com": {"username": "u", "password": "p", "identitytoken": "tok-123"}})},
			repo:    "reg.example.com/x",
			want:    []Credential{cred("regcred", "reg.example.com", "u", "p")},
		},
		"docker.io key does not cover registry-1.docker.io (rule 46)": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("hubcred", map[string]entryJSON{"docker.io": userPass("u", "p")})},
			repo:    "registry-1.docker.io/library/nginx",
			explain: [][]string{{`key "docker.io"`, "does not cover registry-1.docker.io", "docker.io/library/nginx"}},
		},
		"kubectl default key does not cover registry-1.docker.io (rule 46)": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("hubcred", map[string]entryJSON{"https://index.docker.io/v1/": userPass("u", "p")})},
			repo:    "registry-1.docker.io/library/nginx",
			explain: [][]string{{`key "index.docker.io"`, "does not cover registry-1.docker.io"}},
		},
		// secret types and data keys (docs/pull-semantics.md §2.2)
		"dockercfg secret is a bare map": {
			secrets: []corev1.Secret{dockercfgSecret("legacy", map[string]entryJSON{"reg.example.com": userPass("u", "p")})},
			repo:    "reg.example.com/x",
			want:    []Credential{cred("legacy", "reg.example.com", "u", "p")},
		},
		"dockerconfigjson type with data under .dockercfg is ignored": {
			secrets: []corev1.Secret{rawSecret("mixed", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigKey, `{"reg.example.com":{"username":"u","password":"p"}}`)},
			repo:    "reg.example.com/x",
			ignored: [][]string{{`secret "mixed" has type kubernetes.io/dockerconfigjson but no data under ".dockerconfigjson"`}},
		},
		"dockercfg type with data under .dockerconfigjson is ignored": {
			secrets: []corev1.Secret{rawSecret("mixed", corev1.SecretTypeDockercfg, corev1.DockerConfigJsonKey, `{"auths":{"reg.example.com":{"username":"u","password":"p"}}}`)},
			repo:    "reg.example.com/x",
			ignored: [][]string{{`secret "mixed" has type kubernetes.io/dockercfg but no data under ".dockercfg"`}},
		},
		"empty .dockerconfigjson is ignored, not an error": {
			secrets: []corev1.Secret{rawSecret("empty", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, "")},
			repo:    "reg.example.com/x",
			ignored: [][]string{{`secret "empty"`, "no data", "skips it"}},
		},
		"secret without a type is reported as Opaque": {
			secrets: []corev1.Secret{rawSecret("untyped", "", corev1.DockerConfigJsonKey, `{"auths":{}}`)},
			repo:    "reg.example.com/x",
			ignored: [][]string{{`secret "untyped" has type Opaque`}},
		},
		"ignored secret does not hide the next one": {
			secrets: []corev1.Secret{
				rawSecret("opaque", corev1.SecretTypeOpaque, corev1.DockerConfigJsonKey, `{}`),
				dockerConfigJSONSecret("good", map[string]entryJSON{"reg.example.com": userPass("u", "p")}),
			},
			repo:    "reg.example.com/x",
			want:    []Credential{cred("good", "reg.example.com", "u", "p")},
			ignored: [][]string{{`secret "opaque" has type Opaque`}},
		},
		"null auths is a valid, empty document": {
			secrets: []corev1.Secret{rawSecret("null", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths":null}`)},
			repo:    "docker.io/library/nginx",
		},
		"no secrets": {
			repo: "docker.io/library/nginx",
		},
		// key normalisation (docs/pull-semantics.md §2.3)
		"http scheme is dropped": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"http://reg.example.com": userPass("u", "p")})},
			repo:    "reg.example.com/x",
			want:    []Credential{cred("s", "http://reg.example.com", "u", "p")},
		},
		"/v2/ prefix is stripped and the rest is a path": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"https://reg.example.com/v2/team": userPass("u", "p")})},
			repo:    "reg.example.com/team/app",
			want:    []Credential{cred("s", "https://reg.example.com/v2/team", "u", "p")},
		},
		"/v1/ key is the bare host": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"reg.example.com/v1/": userPass("u", "p")})},
			repo:    "reg.example.com/any/app",
			want:    []Credential{cred("s", "reg.example.com/v1/", "u", "p")},
		},
		"path-scoped key does not cover another path": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"https://reg.example.com/v2/team": userPass("u", "p")})},
			repo:    "reg.example.com/other/app",
			explain: [][]string{{`key "reg.example.com/team"`, "covers only repositories under reg.example.com/team"}},
		},
		"path is a plain string prefix": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"reg.example.com/te": userPass("u", "p")})},
			repo:    "reg.example.com/team/app",
			want:    []Credential{cred("s", "reg.example.com/te", "u", "p")},
		},
		"userinfo in a key is dropped by normalisation": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"https://someone:" + testPassword + "@reg.example.com": userPass("u", "p")})},
			repo:    "reg.example.com/x",
			want:    []Credential{cred("s", "https://someone:"+testPassword+"@reg.example.com", "u", "p")},
		},
		"unparseable key is skipped": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"reg example.com": userPass("u", "p")})},
			repo:    "reg.example.com/x",
			explain: [][]string{{`imagePullSecret "s" key "reg example.com" is not a valid URL`}},
		},
		// globs and ports (docs/pull-semantics.md §2.4)
		"partial-label glob": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"app*.k8s.io": userPass("u", "p")})},
			repo:    "app1.k8s.io/x",
			want:    []Credential{cred("s", "app*.k8s.io", "u", "p")},
		},
		"one glob per label": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"*.*.example.com": userPass("u", "p")})},
			repo:    "a.b.example.com/x",
			want:    []Credential{cred("s", "*.*.example.com", "u", "p")},
		},
		"equal ports match": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"reg.example.com:5000": userPass("u", "p")})},
			repo:    "reg.example.com:5000/x",
			want:    []Credential{cred("s", "reg.example.com:5000", "u", "p")},
		},
		"key with a port does not match an image without one": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"reg.example.com:5000": userPass("u", "p")})},
			repo:    "reg.example.com/x",
			explain: [][]string{{`key "reg.example.com:5000"`, "requires port 5000"}},
		},
		"different ports": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"reg.example.com:5000": userPass("u", "p")})},
			repo:    "reg.example.com:5001/x",
			explain: [][]string{{"is for port 5000, not 5001"}},
		},
		"host match is case-sensitive": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"Reg.Example.com": userPass("u", "p")})},
			repo:    "reg.example.com/x",
			explain: [][]string{{`key "Reg.Example.com"`, "only in letter case"}},
		},
		"literal key does not cover a subdomain": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"example.com": userPass("u", "p")})},
			repo:    "reg.example.com/x",
			explain: [][]string{{`key "example.com"`, "covers only the host example.com", `"*.example.com"`}},
		},
		// order (docs/pull-semantics.md §2.3, §2.5)
		"reverse-lexicographic key order: specific path, host, then glob": {
			secrets: []corev1.Secret{
				dockerConfigJSONSecret("host", map[string]entryJSON{"reg.example.com": userPass("h", "p")}),
				dockerConfigJSONSecret("glob", map[string]entryJSON{"*.example.com": userPass("g", "p")}),
				dockerConfigJSONSecret("path", map[string]entryJSON{"reg.example.com/team": userPass("t", "p")}),
			},
			repo: "reg.example.com/team/app",
			want: []Credential{
				cred("path", "reg.example.com/team", "t", "p"),
				cred("host", "reg.example.com", "h", "p"),
				cred("glob", "*.example.com", "g", "p"),
			},
		},
		"same key in two secrets keeps secret order": {
			secrets: []corev1.Secret{
				dockerConfigJSONSecret("first", map[string]entryJSON{"https://reg.example.com/v2/": userPass("a", "p")}),
				dockerConfigJSONSecret("second", map[string]entryJSON{"reg.example.com": userPass("b", "p")}),
			},
			repo: "reg.example.com/x",
			want: []Credential{cred("first", "https://reg.example.com/v2/", "a", "p"), cred("second", "reg.example.com", "b", "p")},
		},
		"same normalised key twice in one secret: sorted by key as written": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{
				"index.docker.io":             userPass("b", "p"),
				"https://index.docker.io/v1/": userPass("a", "p"),
			})},
			repo: "docker.io/library/nginx",
			want: []Credential{cred("s", "https://index.docker.io/v1/", "a", "p"), cred("s", "index.docker.io", "b", "p")},
		},
		"identical credentials in two secrets are both tried": {
			secrets: []corev1.Secret{
				dockerConfigJSONSecret("one", map[string]entryJSON{"reg.example.com": userPass("u", "p")}),
				dockerConfigJSONSecret("two", map[string]entryJSON{"reg.example.com": userPass("u", "p")}),
			},
			repo: "reg.example.com/x",
			want: []Credential{cred("one", "reg.example.com", "u", "p"), cred("two", "reg.example.com", "u", "p")},
		},
		// Docker Hub fallback (isDefaultRegistryMatch)
		"fallback is not used for other registries": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("hub", map[string]entryJSON{"https://index.docker.io/v1/": userPass("u", "p")})},
			repo:    "quay.io/org/app",
			explain: [][]string{{`has entries for [index.docker.io] but none match quay.io/org/app`}},
		},
		"fallback applies to localhost names (kubelet quirk: no '.' or ':')": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("hub", map[string]entryJSON{"https://index.docker.io/v1/": userPass("u", "p")})},
			repo:    "localhost/app",
			want:    []Credential{cred("hub", "https://index.docker.io/v1/", "u", "p")},
		},
		"fallback applies to an uppercase pseudo-host (kubelet quirk)": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("hub", map[string]entryJSON{"https://index.docker.io/v1/": userPass("u", "p")})},
			repo:    "MyOrg/app",
			want:    []Credential{cred("hub", "https://index.docker.io/v1/", "u", "p")},
		},
		// entry decoding (config.go)
		"auth overrides username and password": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"reg.example.com": {"username": "ignored", "password": "ignored", "auth": b64("real:pw")}})},
			repo:    "reg.example.com/x",
			want:    []Credential{cred("s", "reg.example.com", "real", "pw")},
		},
		"auth without padding (RawStdEncoding)": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"reg.example.com": {"auth": strings.TrimRight(b64("user:pw"), "=")}})},
			repo:    "reg.example.com/x",
			want:    []Credential{cred("s", "reg.example.com", "user", "pw")},
		},
		"auth password may contain ':'": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"reg.example.com": {"auth": b64("user:p:w")}})},
			repo:    "reg.example.com/x",
			want:    []Credential{cred("s", "reg.example.com", "user", "p:w")},
		},
		"email is read and ignored": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("s", map[string]entryJSON{"reg.example.com": {"username": "u", "password": "p", "email": "u@example.com"}})},
			repo:    "reg.example.com/x",
			want:    []Credential{cred("s", "reg.example.com", "u", "p")},
		},
		"field names are matched case-insensitively like encoding/json": {
			secrets: []corev1.Secret{rawSecret("s", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"Auths":{"reg.example.com":{"Username":"u","PASSWORD":"p"}}}`)},
			repo:    "reg.example.com/x",
			want:    []Credential{cred("s", "reg.example.com", "u", "p")},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			k := FromSecrets(tc.secrets)
			if err := k.Err(); err != nil {
				t.Fatalf("Err() = %v", err)
			}
			if got := k.Lookup(ParseRepo(tc.repo)); !slices.Equal(got, tc.want) {
				t.Errorf("Lookup(%q)\n got %v\nwant %v", tc.repo, got, tc.want)
			}
			explain := k.Explain(ParseRepo(tc.repo), testMaxKeys)
			assertLines(t, "Explain", explain, tc.explain)
			assertLines(t, "Ignored", k.Ignored(), tc.ignored)
			for _, line := range append(explain, k.Ignored()...) {
				assertNoSecret(t, line)
			}
		})
	}
}

// assertLines checks that every keyword set is found in one line and that there are no lines
// when no keywords are expected.
func assertLines(t *testing.T, what string, lines []string, want [][]string) {
	t.Helper()
	if len(want) == 0 && len(lines) > 0 {
		t.Errorf("%s = %q, want nothing", what, lines)
	}
	for _, keywords := range want {
		if !slices.ContainsFunc(lines, func(line string) bool {
			return !slices.ContainsFunc(keywords, func(kw string) bool { return !strings.Contains(line, kw) })
		}) {
			t.Errorf("%s = %q: no line has all of %q", what, lines, keywords)
		}
	}
}

func assertNoSecret(t *testing.T, text string) {
	t.Helper()
	for _, secret := range []string{testPassword, b64(testUser + ":" + testPassword), "tok-123"} {
		if strings.Contains(text, secret) {
			t.Errorf("%q contains a credential", text)
		}
	}
}

func TestKeys(t *testing.T) {
	k := FromSecrets([]corev1.Secret{
		dockerConfigJSONSecret("a", map[string]entryJSON{"https://index.docker.io/v1/": userPass("u", "p"), "quay.io": userPass("u", "p")}),
		dockercfgSecret("b", map[string]entryJSON{"quay.io": userPass("u", "p"), "*.example.com/team": userPass("u", "p")}),
	})
	want := []string{"*.example.com/team", "index.docker.io", "quay.io"}
	if got := k.Keys(); !slices.Equal(got, want) {
		t.Errorf("Keys() = %q, want %q", got, want)
	}
}

func TestNilKeyring(t *testing.T) {
	var k *Keyring
	if k.Err() != nil || k.Lookup(ParseRepo("docker.io/library/nginx")) != nil || k.Keys() != nil || k.Ignored() != nil || k.Explain(ParseRepo("docker.io/library/nginx"), testMaxKeys) != nil {
		t.Error("nil keyring is not empty")
	}
	if got := (&Keyring{}).Lookup(ParseRepo("docker.io/library/nginx")); got != nil {
		t.Errorf("zero keyring Lookup = %v", got)
	}
}

func TestIsDefaultRegistryMatch(t *testing.T) {
	tests := map[string]bool{
		"foo/bar":                 true,
		"docker.io/foo/bar":       true,
		"index.docker.io/foo/bar": true,
		"foo":                     true,
		"":                        false,
		"registry.tld/foo/bar":    false,
		"registry:5000/foo/bar":   false,
		"myhostdocker.io/foo/bar": false,
	}
	for image, want := range tests {
		t.Run(image, func(t *testing.T) {
			if got := isDefaultRegistryMatch(image); got != want {
				t.Errorf("isDefaultRegistryMatch(%q) = %v, want %v", image, got, want)
			}
		})
	}
}
