package keyring

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// SecretError is a pull secret the kubelet cannot decode. The kubelet then fails the pull before
// contacting any registry; the container's waiting reason is the raw error and there is no backoff.
// FromDockerConfig returns one for a Docker config file it cannot decode, with Source set.
type SecretError struct {
	// Secret is the secret's name ("" for a Docker config file).
	Secret string
	// Source names a document that is not a secret: "docker config ~/.docker/config.json".
	Source string
	// Reason says in plain words what is wrong. It never contains a credential.
	Reason string
	// Err is the decoding error. encoding/json never copies string values into its errors, and
	// every field decoded here is a string, so it holds no credential either.
	Err error
}

func (e *SecretError) Error() string {
	return fmt.Sprintf("%s: %s", Credential{Secret: e.Secret, Source: e.Source}.SourceName(), e.Reason)
}

func (e *SecretError) Unwrap() error { return e.Err }

func newSecretError(o origin, dataKey string, data []byte, err error) *SecretError {
	key := ""
	if failingKey, entryErr := firstFailingEntry(dataKey, data); entryErr != nil {
		// The entry's own error: the document-level one may come from a different entry.
		key, err = failingKey, entryErr
	}
	return &SecretError{Secret: o.secret, Source: o.source, Reason: secretReason(dataKey, key, err), Err: err}
}

// secretReason describes err in words, classified by type only.
func secretReason(dataKey, key string, err error) string {
	var (
		corrupt   base64.CorruptInputError
		syntax    *json.SyntaxError
		typeError *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &corrupt):
		return fmt.Sprintf("auth field is not base64(username:password) (key %q)", redactKey(key))
	case errors.Is(err, errAuthNoColon):
		return fmt.Sprintf("auth field is not base64(username:password): the decoded value has no ':' (key %q)", redactKey(key))
	case errors.As(err, &syntax):
		return fmt.Sprintf("%s is not valid JSON (syntax error at byte %d)", dataKey, syntax.Offset)
	case errors.As(err, &typeError):
		reason := fmt.Sprintf("%s does not have the shape %s", dataKey, shapeOf(dataKey))
		if typeError.Field != "" {
			reason += fmt.Sprintf(" (field %q has the wrong type)", typeError.Field)
		}
		if key != "" {
			reason += fmt.Sprintf(" (key %q)", redactKey(key))
		}
		return reason
	}
	return fmt.Sprintf("%s cannot be decoded", dataKey)
}

func shapeOf(dataKey string) string {
	if dataKey == corev1.DockerConfigKey {
		return `{"<registry>":{"username":…,"password":…}}`
	}
	return `{"auths":{"<registry>":{"username":…,"password":…}}}`
}

// firstFailingEntry finds, in sorted key order, an auths entry that fails to decode on its own,
// so an "auth" error can name its key. It finds nothing when the document itself is malformed.
func firstFailingEntry(dataKey string, data []byte) (string, error) {
	var entries map[string]json.RawMessage
	if dataKey != corev1.DockerConfigKey {
		var doc struct {
			Auths map[string]json.RawMessage `json:"auths"`
		}
		if json.Unmarshal(data, &doc) != nil {
			return "", nil
		}
		entries = doc.Auths
	} else if json.Unmarshal(data, &entries) != nil {
		return "", nil
	}
	for _, key := range slices.Sorted(maps.Keys(entries)) {
		var e dockerConfigEntry
		if err := json.Unmarshal(entries[key], &e); err != nil {
			return key, err
		}
	}
	return "", nil
}

// ignoredLine says why the kubelet skips secret (secretsToTrackedDockerConfigs reads a secret
// only when its type and the data under that type's key agree).
func ignoredLine(secret *corev1.Secret) string {
	switch secret.Type {
	case corev1.SecretTypeDockerConfigJson:
		return fmt.Sprintf("secret %q has type %s but no data under %q; the kubelet skips it", secret.Name, secret.Type, corev1.DockerConfigJsonKey)
	case corev1.SecretTypeDockercfg:
		return fmt.Sprintf("secret %q has type %s but no data under %q; the kubelet skips it", secret.Name, secret.Type, corev1.DockerConfigKey)
	}
	typ := secret.Type
	if typ == "" {
		// The API server defaults an empty type to Opaque.
		typ = corev1.SecretTypeOpaque
	}
	return fmt.Sprintf("secret %q has type %s; the kubelet only uses %s or %s", secret.Name, typ, corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg)
}
