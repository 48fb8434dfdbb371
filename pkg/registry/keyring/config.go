package keyring

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// The types below mirror k8s.io/kubernetes pkg/credentialprovider/config.go field for field.
// encoding/json accepts or rejects a document according to the type it decodes into (an "auths"
// that is not an object, a non-string "HttpHeaders" value, a non-string "username"), so the kubelet's
// verdict on a secret is only reproduced by decoding into the same shapes.

// dockerConfigJSON is the .dockerconfigjson document.
type dockerConfigJSON struct {
	Auths       dockerConfig      `json:"auths"`
	HTTPHeaders map[string]string `json:"HttpHeaders,omitempty"`
}

// dockerConfig is the .dockercfg document and the "auths" object: registry key → entry.
type dockerConfig map[string]dockerConfigEntry

type dockerConfigEntry struct {
	Username string
	Password string
	Email    string
	// tokens is set when the entry carries identitytoken or registrytoken. The kubelet has no
	// field for them and drops them; they are recorded only to explain that to the user.
	tokens bool
}

// dockerConfigEntryWithAuth is the wire form of one entry.
type dockerConfigEntryWithAuth struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Email    string `json:"email,omitempty"`
	Auth     string `json:"auth,omitempty"`
}

// errAuthNoColon is the kubelet's "unable to parse auth field, must be formatted as
// base64(username:password)", given a sentinel so it can be classified without matching text.
var errAuthNoColon = errors.New("unable to parse auth field, must be formatted as base64(username:password)")

// UnmarshalJSON is credentialprovider.DockerConfigEntry.UnmarshalJSON: "auth", when present,
// overrides username and password.
func (ident *dockerConfigEntry) UnmarshalJSON(data []byte) error {
	var tmp dockerConfigEntryWithAuth
	err := json.Unmarshal(data, &tmp)
	if err != nil {
		return err
	}

	ident.Username = tmp.Username
	ident.Password = tmp.Password
	ident.Email = tmp.Email
	ident.tokens = hasTokens(data)

	if len(tmp.Auth) == 0 {
		return nil
	}

	ident.Username, ident.Password, err = decodeDockerConfigFieldAuth(tmp.Auth)
	return err
}

// hasTokens reports whether an entry the kubelet accepted carries a non-empty identitytoken or
// registrytoken. A decoding error only means a token is not a string; the kubelet never reads
// these fields, so the error must not change the verdict and is deliberately dropped.
func hasTokens(data []byte) bool {
	var t struct {
		IdentityToken string `json:"identitytoken"`
		RegistryToken string `json:"registrytoken"`
	}
	_ = json.Unmarshal(data, &t)
	return t.IdentityToken != "" || t.RegistryToken != ""
}

// decodeDockerConfigFieldAuth is the kubelet's decoder for "auth" = base64(username:password).
func decodeDockerConfigFieldAuth(field string) (username, password string, err error) {
	var decoded []byte

	// StdEncoding can only decode padded strings and RawStdEncoding only unpadded ones.
	if strings.HasSuffix(strings.TrimSpace(field), "=") {
		decoded, err = base64.StdEncoding.DecodeString(field)
	} else {
		decoded, err = base64.RawStdEncoding.DecodeString(field)
	}
	if err != nil {
		return "", "", err
	}

	user, pass, ok := strings.Cut(string(decoded), ":")
	if !ok {
		return "", "", errAuthNoColon
	}
	return user, pass, nil
}
