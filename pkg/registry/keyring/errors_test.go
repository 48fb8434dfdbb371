package keyring

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestSecretErrors covers docs/pull-semantics.md §2.2 and rule 21: a document the kubelet cannot decode fails the
// whole lookup, names the secret and never shows a credential.
func TestSecretErrors(t *testing.T) {
	tests := map[string]struct {
		secrets  []corev1.Secret
		secret   string // secret named by the error
		keywords []string
		// errType is checked with errors.As on the error's chain.
		errType func(error) bool
	}{
		"invalid base64 in auth (rule 21)": {
			secrets:  []corev1.Secret{dockerConfigJSONSecret("regcred", map[string]entryJSON{"reg.example.com": {"auth": "!!" + testPassword}})},
			secret:   "regcred",
			keywords: []string{`imagePullSecret "regcred": auth field is not base64(username:password)`, `key "reg.example.com"`},
			errType:  func(err error) bool { var c base64.CorruptInputError; return errors.As(err, &c) },
		},
		"padded auth with trailing space is not base64": {
			secrets:  []corev1.Secret{dockerConfigJSONSecret("regcred", map[string]entryJSON{"reg.example.com": {"auth": b64(testUser+":"+testPassword) + " "}})},
			secret:   "regcred",
			keywords: []string{"auth field is not base64(username:password)"},
			errType:  func(err error) bool { var c base64.CorruptInputError; return errors.As(err, &c) },
		},
		"auth without ':'": {
			secrets:  []corev1.Secret{dockerConfigJSONSecret("regcred", map[string]entryJSON{"reg.example.com": {"auth": b64(testUser + testPassword)}})},
			secret:   "regcred",
			keywords: []string{"auth field is not base64(username:password)", "no ':'", `key "reg.example.com"`},
			errType:  func(err error) bool { return errors.Is(err, errAuthNoColon) },
		},
		"auth error names its key among good ones": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("regcred", map[string]entryJSON{
				"a.example.com": userPass("u", "p"),
				"b.example.com": {"auth": "%%%"},
				"c.example.com": userPass("u", "p"),
			})},
			secret:   "regcred",
			keywords: []string{`key "b.example.com"`},
		},
		"auths is not an object": {
			secrets:  []corev1.Secret{rawSecret("regcred", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths":[]}`)},
			secret:   "regcred",
			keywords: []string{".dockerconfigjson does not have the shape", `{"auths":`, `field "auths"`},
			errType:  func(err error) bool { var te *json.UnmarshalTypeError; return errors.As(err, &te) },
		},
		"entry is not an object": {
			secrets:  []corev1.Secret{rawSecret("regcred", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths":{"reg.example.com":"`+testPassword+`"}}`)},
			secret:   "regcred",
			keywords: []string{"does not have the shape", `key "reg.example.com"`},
		},
		"numeric password is a type error and is not echoed": {
			secrets:  []corev1.Secret{rawSecret("regcred", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths":{"reg.example.com":{"username":"u","password":987654321123}}}`)},
			secret:   "regcred",
			keywords: []string{"does not have the shape"},
		},
		"HttpHeaders of the wrong type fails like the kubelet": {
			secrets:  []corev1.Secret{rawSecret("regcred", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths":{},"HttpHeaders":{"X":1}}`)},
			secret:   "regcred",
			keywords: []string{"does not have the shape"},
		},
		"top-level array in .dockercfg": {
			secrets:  []corev1.Secret{rawSecret("legacy", corev1.SecretTypeDockercfg, corev1.DockerConfigKey, `[]`)},
			secret:   "legacy",
			keywords: []string{`imagePullSecret "legacy": .dockercfg does not have the shape {"<registry>":`},
		},
		"not JSON": {
			secrets:  []corev1.Secret{rawSecret("regcred", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths":{"reg.example.com":{"password":"`+testPassword+`",}}}`)},
			secret:   "regcred",
			keywords: []string{".dockerconfigjson is not valid JSON", "syntax error at byte"},
			errType:  func(err error) bool { var se *json.SyntaxError; return errors.As(err, &se) },
		},
		"first undecodable secret is reported; a later good secret does not help": {
			secrets: []corev1.Secret{
				dockerConfigJSONSecret("good-before", map[string]entryJSON{"reg.example.com": userPass("u", "p")}),
				dockerConfigJSONSecret("bad-1", map[string]entryJSON{"reg.example.com": {"auth": "***"}}),
				dockerConfigJSONSecret("bad-2", map[string]entryJSON{"reg.example.com": {"auth": "***"}}),
				dockerConfigJSONSecret("good-after", map[string]entryJSON{"reg.example.com": userPass("u", "p")}),
			},
			secret:   "bad-1",
			keywords: []string{`imagePullSecret "bad-1"`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			k := FromSecrets(tc.secrets)
			err := k.Err()
			var secretErr *SecretError
			if !errors.As(err, &secretErr) {
				t.Fatalf("Err() = %v, want *SecretError", err)
			}
			if secretErr.Secret != tc.secret {
				t.Errorf("Secret = %q, want %q", secretErr.Secret, tc.secret)
			}
			for _, kw := range tc.keywords {
				if !strings.Contains(err.Error(), kw) {
					t.Errorf("Error() = %q lacks %q", err.Error(), kw)
				}
			}
			if tc.errType != nil && !tc.errType(err) {
				t.Errorf("Err() chain %#v lacks the expected type", secretErr.Err)
			}
			if got := k.Lookup(ParseRepo("reg.example.com/x")); got != nil {
				t.Errorf("Lookup with a broken secret = %v; the kubelet never pulls", got)
			}
			for _, text := range []string{err.Error(), secretErr.Reason, secretErr.Err.Error()} {
				assertNoSecret(t, text)
				if strings.Contains(text, "987654321123") {
					t.Errorf("%q echoes a numeric password", text)
				}
			}
		})
	}
}

// TestDecodeAuth ports the kubelet's TestDecodeDockerConfigFieldAuth.
func TestDecodeAuth(t *testing.T) {
	tests := map[string]struct {
		input, username, password string
		fail                      bool
	}{
		"padded":                        {input: "Zm9vOmJhcg==", username: "foo", password: "bar"},
		"unpadded":                      {input: "Zm9vOmJhcg", username: "foo", password: "bar"},
		"newlines are ignored":          {input: "Zm9vOm\nJhcg==\n", username: "foo", password: "bar"},
		"raw encoding":                  {input: base64.RawStdEncoding.EncodeToString([]byte("foo:bar")), username: "foo", password: "bar"},
		"no colon":                      {input: "cGFudHM=", fail: true},
		"trailing space is not ignored": {input: "Zm9vOmJhcg== ", fail: true},
		"not base64":                    {input: "pants", fail: true},
		"empty username":                {input: b64(":only-password"), username: "", password: "only-password"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			username, password, err := decodeDockerConfigFieldAuth(tc.input)
			if (err != nil) != tc.fail {
				t.Fatalf("err = %v, want fail=%v", err, tc.fail)
			}
			if username != tc.username || password != tc.password {
				t.Errorf("got %q/%q, want %q/%q", username, password, tc.username, tc.password)
			}
		})
	}
}

// TestNoCredentialsInMessages walks every message the package produces for a keyring built
// from a real-looking password and checks none of it leaks.
func TestNoCredentialsInMessages(t *testing.T) {
	auth := b64(testUser + ":" + testPassword)
	k := FromSecrets([]corev1.Secret{
		dockerConfigJSONSecret("regcred", map[string]entryJSON{
			"*.example.com":                           {"auth": auth},
			"reg.example.com:5000":                    {"username": testUser, "password": testPassword},
			"index.docker.io/myorg":                   {"auth": auth},
			"docker.io":                               {"auth": auth, "identitytoken": "tok-123"},
			"https://index.docker.io/v1/":             {"auth": auth},
			"https://x:" + testPassword + "@bad host": {"auth": auth},
			"tokens.example.com":                      {"identitytoken": "tok-123"},
		}),
		rawSecret("opaque", corev1.SecretTypeOpaque, corev1.DockerConfigJsonKey, `{"auths":{"a":{"auth":"`+auth+`"}}}`),
	})
	var texts []string
	texts = append(texts, k.Ignored()...)
	texts = append(texts, k.Keys()...)
	for _, repo := range []string{"a.b.example.com/x", "reg.example.com/x", "reg.example.com:5001/x", "docker.io/myorg/app",
		"registry-1.docker.io/library/nginx", "tokens.example.com/x", "quay.io/x"} {
		texts = append(texts, k.Explain(ParseRepo(repo), testMaxKeys)...)
		for _, c := range k.Lookup(ParseRepo(repo)) {
			texts = append(texts, c.String(), c.Fingerprint())
		}
	}
	if len(texts) < 10 {
		t.Fatalf("only %d texts collected: %q", len(texts), texts)
	}
	for _, text := range texts {
		assertNoSecret(t, text)
	}
}
