package keyring

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// Credential is one username/password the kubelet would hand to the runtime for a pull.
type Credential struct {
	Username, Password string
	// Secret is the name of the imagePullSecret it came from ("" for other sources).
	Secret string
	// Source names a source that is not a pull secret, for messages: "docker config
	// ~/.docker/config.json" (FromDockerConfig), or what FromEntries was given.
	Source string
	// Key is the auths key as written in the secret, e.g. "https://index.docker.io/v1/".
	Key string
}

// SourceName names where the credential comes from, for messages: `imagePullSecret "regcred"`,
// the Source, or "credential".
func (c Credential) SourceName() string {
	if c.Secret != "" {
		return fmt.Sprintf("imagePullSecret %q", c.Secret)
	}
	return cmp.Or(c.Source, "credential")
}

// String names the credential for messages and logs. It never contains the password, and any
// userinfo written into the key is redacted.
func (c Credential) String() string {
	return fmt.Sprintf("%s (key %q)", c.SourceName(), redactKey(c.Key))
}

// Anonymous reports whether the runtime pulls anonymously even though the kubelet passes this
// credential: containerd (ParseAuth) and CRI-O use username/password only when the username is
// set, and the kubelet never forwards identitytoken or registrytoken from a secret.
func (c Credential) Anonymous() bool {
	return c.Username == ""
}

// Fingerprint is a hex SHA-256 over the username, password, secret, source and key, for cache keys.
// Each field is length-prefixed so that no two different credentials share an encoding.
func (c Credential) Fingerprint() string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, field := range []string{c.Username, c.Password, c.Secret, c.Source, c.Key} {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(field)))])
		h.Write([]byte(field))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// redactKey hides userinfo ("user:password@") in a key as written, which url.Parse would accept
// and the kubelet would silently drop from the normalised key.
func redactKey(key string) string {
	scheme, rest, ok := strings.Cut(key, "://")
	if !ok {
		scheme, rest = "", key
	} else {
		scheme += "://"
	}
	authority, path, hasPath := strings.Cut(rest, "/")
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return key
	}
	redacted := scheme + "redacted@" + authority[at+1:]
	if hasPath {
		redacted += "/" + path
	}
	return redacted
}
