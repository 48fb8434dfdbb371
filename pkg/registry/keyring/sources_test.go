package keyring

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestFromDockerConfig(t *testing.T) {
	const source = "~/.docker/config.json"
	tests := map[string]struct {
		data     string
		repo     string
		want     []Credential
		ignored  [][]string
		explain  [][]string
		errWords []string
	}{
		"auth": {
			data: `{"auths":{"reg.example.com":{"auth":"` + b64("alice:"+testPassword) + `"}}}`,
			repo: "reg.example.com/team/app",
			want: []Credential{{Username: "alice", Password: testPassword, Source: "docker config " + source, Key: "reg.example.com"}},
		},
		"username and password": {
			data: `{"auths":{"https://index.docker.io/v1/":{"username":"bob","password":"` + testPassword + `"}}}`,
			repo: "docker.io/library/nginx",
			want: []Credential{{Username: "bob", Password: testPassword, Source: "docker config " + source, Key: "https://index.docker.io/v1/"}},
		},
		"identitytoken is ignored as the kubelet does": {
			data:    `{"auths":{"reg.example.com":{"identitytoken":"tok-123"}}}`,
			repo:    "reg.example.com/app",
			want:    []Credential{{Source: "docker config " + source, Key: "reg.example.com"}},
			explain: [][]string{{`docker config ~/.docker/config.json key "reg.example.com"`, "identitytoken/registrytoken", "anonymously"}},
		},
		"kubelet matching: a glob covers one label": {
			data:    `{"auths":{"*.example.com":{"auth":"` + b64("u:p") + `"}}}`,
			repo:    "a.b.example.com/app",
			explain: [][]string{{`docker config ~/.docker/config.json key "*.example.com"`, "exactly one DNS label"}},
		},
		"credential stores and helpers are named, not read": {
			data:    `{"auths":{"reg.example.com":{}},"credsStore":"desktop","credHelpers":{"gcr.io":"gcloud"}}`,
			repo:    "quay.io/org/app",
			ignored: [][]string{{`credsStore "desktop"`, "not read"}, {"gcr.io", `credHelpers "gcloud"`}},
			explain: [][]string{{`docker config ~/.docker/config.json has entries for [reg.example.com] but none match quay.io/org/app`}},
		},
		"other fields of the docker CLI are ignored": {
			data: `{"auths":{"reg.example.com":{"auth":"` + b64("u:p") + `"}},"psFormat":"table","proxies":{"default":{}},"HttpHeaders":{"X-Meta":"v"}}`,
			repo: "reg.example.com/app",
			want: []Credential{{Username: "u", Password: "p", Source: "docker config " + source, Key: "reg.example.com"}},
		},
		"no auths": {data: `{}`, repo: "reg.example.com/app"},
		"invalid JSON": {
			data:     `{"auths":`,
			errWords: []string{`docker config ~/.docker/config.json: the file is not valid JSON`},
		},
		"auths of the wrong shape": {
			data:     `{"auths":["reg.example.com"]}`,
			errWords: []string{`docker config ~/.docker/config.json: the file does not have the shape {"auths":`},
		},
		"auth without a colon": {
			data:     `{"auths":{"reg.example.com":{"auth":"` + b64("nocolon") + `"}}}`,
			errWords: []string{"auth field is not base64(username:password)", `key "reg.example.com"`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			k, err := FromDockerConfig([]byte(tc.data), source)
			if len(tc.errWords) > 0 {
				var secretErr *SecretError
				if !errors.As(err, &secretErr) || secretErr.Source != "docker config "+source || k != nil {
					t.Fatalf("FromDockerConfig = %v, %v; want a *SecretError for the file", k, err)
				}
			}
			if !assertBuilt(t, k, err, tc.errWords, tc.repo, tc.want) {
				return
			}
			assertLines(t, "Explain", k.Explain(ParseRepo(tc.repo), testMaxKeys), tc.explain)
			assertLines(t, "Ignored", k.Ignored(), tc.ignored)
			for _, c := range k.Lookup(ParseRepo(tc.repo)) {
				assertNoSecret(t, c.String())
			}
		})
	}
}

func TestFromEntries(t *testing.T) {
	tests := map[string]struct {
		entries  []Entry
		repo     string
		want     []Credential
		errWords []string
	}{
		"kubelet order: path before host before glob": {
			entries: []Entry{
				{Key: "*.example.com", Username: "g", Password: "p"},
				{Key: "reg.example.com", Username: "h", Password: "p"},
				{Key: "reg.example.com/team", Username: "t", Password: "p"},
			},
			repo: "reg.example.com/team/app",
			want: []Credential{
				{Username: "t", Password: "p", Source: "--registry-auth", Key: "reg.example.com/team"},
				{Username: "h", Password: "p", Source: "--registry-auth", Key: "reg.example.com"},
				{Username: "g", Password: "p", Source: "--registry-auth", Key: "*.example.com"},
			},
		},
		"the Docker Hub fallback": {
			entries: []Entry{{Key: "https://index.docker.io/v1/", Username: "u", Password: "p"}},
			repo:    "nginx",
			want:    []Credential{{Username: "u", Password: "p", Source: "--registry-auth", Key: "https://index.docker.io/v1/"}},
		},
		"no match": {entries: []Entry{{Key: "quay.io", Username: "u", Password: "p"}}, repo: "reg.example.com/app"},
		"invalid key": {
			entries:  []Entry{{Key: "reg example.com", Username: "u", Password: testPassword}},
			errWords: []string{`--registry-auth: registry key "reg example.com" is not a valid URL`},
		},
		"key given twice": {
			entries:  []Entry{{Key: "quay.io", Username: "u", Password: "p"}, {Key: "quay.io", Username: "v", Password: "p"}},
			errWords: []string{`"quay.io" is given twice`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			k, err := FromEntries("--registry-auth", tc.entries)
			assertBuilt(t, k, err, tc.errWords, tc.repo, tc.want)
		})
	}
}

func TestSourceNames(t *testing.T) {
	tests := map[string]struct {
		cred Credential
		want string
	}{
		"pull secret":   {cred: Credential{Secret: "regcred", Key: "docker.io", Password: testPassword}, want: `imagePullSecret "regcred" (key "docker.io")`},
		"docker config": {cred: Credential{Source: "docker config ~/.docker/config.json", Key: "quay.io", Password: testPassword}, want: `docker config ~/.docker/config.json (key "quay.io")`},
		"explicit":      {cred: Credential{Source: "--registry-auth", Key: "quay.io", Password: testPassword}, want: `--registry-auth (key "quay.io")`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.cred.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
	a := Credential{Username: "u", Password: "p", Source: "a", Key: "k"}
	b := a
	b.Source = "b"
	if a.Fingerprint() == b.Fingerprint() {
		t.Error("the source is not part of the fingerprint")
	}
}

// FuzzFromDockerConfig feeds arbitrary files to FromDockerConfig: it either fails with a
// *SecretError that names the file and holds no credential, or gives a keyring that answers.
func FuzzFromDockerConfig(f *testing.F) {
	for _, seed := range []string{
		`{"auths":{"reg.example.com":{"auth":"` + b64("alice:"+testPassword) + `"}}}`,
		`{"auths":{"https://index.docker.io/v1/":{"username":"bob","password":"` + testPassword + `","identitytoken":"tok-123"}},"credsStore":"desktop"}`,
		`{"auths":{"*.example.com:5000/team":{}},"credHelpers":{"gcr.io":"gcloud"}}`,
		`{"auths":{"reg.example.com":{"auth":"bm9jb2xvbg=="}}}`,
		`{"auths":[]}`, `{"credsStore":1}`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := FromDockerConfig(data, "fuzz.json")
		if err != nil {
			var secretErr *SecretError
			if !errors.As(err, &secretErr) || secretErr.Source != "docker config fuzz.json" || secretErr.Reason == "" || k != nil {
				t.Fatalf("FromDockerConfig = %v, %#v; want a *SecretError for the file", k, err)
			}
			public := fixedText + "docker config fuzz.json: the file" + strings.Join(objectKeys(data), "\x00")
			for _, value := range credentialValues(data) {
				if len(value) >= 6 && !strings.Contains(public, value) && strings.Contains(err.Error(), value) {
					t.Fatalf("error %q contains the credential %q", err, value)
				}
			}
			return
		}
		for _, key := range k.Keys() {
			for _, c := range k.Lookup(ParseRepo(key)) {
				if c.Password != "" && len(c.Password) >= 6 && strings.Contains(c.String(), c.Password) && !strings.Contains(key, c.Password) {
					t.Fatalf("String() %q contains the password", c.String())
				}
			}
			k.Explain(ParseRepo(key), testMaxKeys)
		}
		k.Ignored()
	})
}

// assertBuilt checks a keyring source's result: with errWords, an error holding each of them and
// no credential; without, a keyring whose Lookup of repo is want. It reports whether there is a
// keyring to check further.
func assertBuilt(t *testing.T, k *Keyring, err error, errWords []string, repo string, want []Credential) bool {
	t.Helper()
	if len(errWords) > 0 {
		if err == nil {
			t.Fatal("no error")
		}
		for _, w := range errWords {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
		assertNoSecret(t, err.Error())
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Lookup(ParseRepo(repo)); !slices.Equal(got, want) {
		t.Errorf("Lookup(%q)\n got %v\nwant %v", repo, got, want)
	}
	return true
}
