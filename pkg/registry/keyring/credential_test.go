package keyring

import (
	"encoding/hex"
	"strings"
	"testing"
)

func TestCredentialString(t *testing.T) {
	tests := map[string]struct {
		cred Credential
		want string
	}{
		"secret": {
			cred: cred("regcred", "docker.io", testUser, testPassword),
			want: `imagePullSecret "regcred" (key "docker.io")`,
		},
		"non-secret source": {
			cred: Credential{Username: testUser, Password: testPassword, Key: "reg.example.com"},
			want: `credential (key "reg.example.com")`,
		},
		"userinfo in the key is redacted": {
			cred: cred("regcred", "https://someone:"+testPassword+"@reg.example.com/v2/team", testUser, testPassword),
			want: `imagePullSecret "regcred" (key "https://redacted@reg.example.com/v2/team")`,
		},
		"userinfo without a scheme is redacted": {
			cred: cred("regcred", "someone:"+testPassword+"@reg.example.com", testUser, testPassword),
			want: `imagePullSecret "regcred" (key "redacted@reg.example.com")`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.cred.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCredentialFingerprint(t *testing.T) {
	base := cred("regcred", "docker.io", testUser, testPassword)
	fp := base.Fingerprint()
	if raw, err := hex.DecodeString(fp); err != nil || len(raw) != 32 {
		t.Fatalf("Fingerprint() = %q, want 64 hex digits", fp)
	}
	if fp != base.Fingerprint() {
		t.Error("Fingerprint() is not stable")
	}
	if strings.Contains(fp, testPassword) {
		t.Error("Fingerprint() contains the password")
	}
	tests := map[string]Credential{
		"username": cred("regcred", "docker.io", "other", testPassword),
		"password": cred("regcred", "docker.io", testUser, "other"),
		"secret":   cred("other", "docker.io", testUser, testPassword),
		"key":      cred("regcred", "https://index.docker.io/v1/", testUser, testPassword),
		// Without length prefixes "ab"+"c" and "a"+"bc" would collide.
		"field boundary": cred("regcred", "docker.io", testUser+testPassword[:1], testPassword[1:]),
	}
	for name, other := range tests {
		t.Run(name, func(t *testing.T) {
			if other.Fingerprint() == fp {
				t.Errorf("changing the %s does not change the fingerprint", name)
			}
		})
	}
}

func TestAnonymous(t *testing.T) {
	if !(Credential{Password: "p"}).Anonymous() || (Credential{Username: "u"}).Anonymous() {
		t.Error("Anonymous() must follow the username alone")
	}
}
