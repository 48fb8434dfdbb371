package keyring

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
)

var (
	// credentialValue captures the string or number values of credential fields, even in invalid JSON.
	credentialValue = regexp.MustCompile(`"(?i:password|auth|identitytoken|registrytoken)"\s*:\s*("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*)`)
	// objectKey captures anything that looks like an object key; keys are registry names, which
	// messages may quote.
	objectKey = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"\s*:`)
	// fixedText is every word the package writes itself, so that a "credential" the fuzzer
	// made equal to a template word is not reported.
	fixedText = shapeOf(corev1.DockerConfigJsonKey) + shapeOf(corev1.DockerConfigKey) +
		secretReason(corev1.DockerConfigJsonKey, "", base64.CorruptInputError(0)) +
		secretReason(corev1.DockerConfigJsonKey, "", errAuthNoColon) +
		secretReason(corev1.DockerConfigJsonKey, "", &json.SyntaxError{}) +
		secretReason(corev1.DockerConfigJsonKey, "", &json.UnmarshalTypeError{Field: "x"}) +
		secretReason(corev1.DockerConfigKey, "", errors.New("")) +
		`imagePullSecret "fuzz": `
)

// FuzzFromSecrets feeds arbitrary secret data to FromSecrets. Seeds are in testdata/fuzz/FuzzFromSecrets.
func FuzzFromSecrets(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, legacy bool) {
		secret := rawSecret("fuzz", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, string(data))
		if legacy {
			secret = rawSecret("fuzz", corev1.SecretTypeDockercfg, corev1.DockerConfigKey, string(data))
		}
		k := FromSecrets([]corev1.Secret{secret})
		err := k.Err()
		if err == nil {
			for _, key := range k.Keys() {
				k.Lookup(ParseRepo(key))
				k.Explain(ParseRepo(key), testMaxKeys)
			}
			return
		}
		var secretErr *SecretError
		if !errors.As(err, &secretErr) || secretErr.Secret != "fuzz" || secretErr.Reason == "" || secretErr.Err == nil {
			t.Fatalf("Err() = %#v, want a *SecretError for secret fuzz", err)
		}
		if k.Lookup(ParseRepo("docker.io/library/nginx")) != nil {
			t.Fatal("Lookup returns credentials although the kubelet would fail")
		}
		public := fixedText + strings.Join(objectKeys(data), "\x00")
		texts := []string{err.Error(), secretErr.Err.Error()}
		for _, value := range credentialValues(data) {
			if len(value) < 6 || strings.Contains(public, value) {
				continue
			}
			for _, text := range texts {
				if strings.Contains(text, value) {
					t.Fatalf("error %q contains the credential value %q", text, value)
				}
			}
		}
	})
}

func objectKeys(data []byte) []string {
	var keys []string
	for _, m := range objectKey.FindAllSubmatch(data, -1) {
		keys = append(keys, string(m[1]))
	}
	return keys
}

// credentialValues returns each credential field value raw, JSON-decoded, and, for auth, the
// base64-decoded username:password and its halves.
func credentialValues(data []byte) []string {
	var values []string
	for _, m := range credentialValue.FindAllSubmatch(data, -1) {
		quoted := m[1]
		values = append(values, strings.Trim(string(quoted), `"`))
		var decoded string
		if json.Unmarshal(quoted, &decoded) != nil {
			continue
		}
		values = append(values, decoded)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
			if plain, err := enc.DecodeString(decoded); err == nil {
				user, pass, _ := strings.Cut(string(plain), ":")
				values = append(values, string(plain), user, pass)
			}
		}
	}
	return values
}

// FuzzMatch checks Match, Lookup and Explain on arbitrary keys and repositories. Seeds are in
// testdata/fuzz/FuzzMatch.
func FuzzMatch(f *testing.F) {
	f.Fuzz(func(t *testing.T, pattern, repo string) {
		Match(pattern, repo) // must not panic, whatever the answer
		if literal := !strings.ContainsAny(pattern, `*?[\`); literal {
			if _, err := parseSchemelessURL(pattern); err == nil && !Match(pattern, pattern) {
				t.Fatalf("literal key %q does not match itself", pattern)
			}
		}
		if !utf8.ValidString(pattern) {
			// JSON cannot carry such a key: marshalling replaces the invalid bytes with U+FFFD, so
			// the secret below would hold another key. Secrets reach the kubelet as JSON too.
			return
		}
		k := FromSecrets([]corev1.Secret{dockerConfigJSONSecret("fuzz", map[string]entryJSON{pattern: userPass("u", "p")})})
		if err := k.Err(); err != nil {
			t.Fatalf("a marshalled document fails to decode: %v", err)
		}
		// A key as written only reaches Match after normalisation.
		if key, err := normaliseKey(pattern); err == nil && Match(key, repo) && len(k.Lookup(ParseRepo(repo))) == 0 {
			t.Fatalf("key %q (normalised %q) matches %q but Lookup finds nothing", pattern, key, repo)
		}
		k.Explain(ParseRepo(repo), testMaxKeys)
	})
}
