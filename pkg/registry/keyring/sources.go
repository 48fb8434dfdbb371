package keyring

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// FromSecrets builds the keyring the kubelet builds from these pull secrets, given in pod order.
// Secrets of other types, or without data under their type's key, are skipped (see Ignored). A
// document the kubelet cannot decode makes Err return a *SecretError naming the first such secret.
func FromSecrets(secrets []corev1.Secret) *Keyring {
	k := newKeyring()
	for i := range secrets {
		k.addSecret(&secrets[i])
	}
	return k
}

// addSecret follows secretsToTrackedDockerConfigs: the type decides which data key is read.
func (k *Keyring) addSecret(secret *corev1.Secret) {
	var (
		dataKey string
		cfg     dockerConfig
		err     error
	)
	switch {
	case secret.Type == corev1.SecretTypeDockerConfigJson && len(secret.Data[corev1.DockerConfigJsonKey]) > 0:
		dataKey = corev1.DockerConfigJsonKey
		var doc dockerConfigJSON
		err = json.Unmarshal(secret.Data[dataKey], &doc)
		cfg = doc.Auths
	case secret.Type == corev1.SecretTypeDockercfg && len(secret.Data[corev1.DockerConfigKey]) > 0:
		dataKey = corev1.DockerConfigKey
		err = json.Unmarshal(secret.Data[dataKey], &cfg)
	default:
		k.ignored = append(k.ignored, ignoredLine(secret))
		return
	}
	o := origin{secret: secret.Name}
	if err != nil {
		// The kubelet stops at the first undecodable secret; later ones are still read here so
		// that Ignored and Explain can describe the whole pod.
		if k.err == nil {
			k.err = newSecretError(o, dataKey, secret.Data[dataKey], err)
		}
		return
	}
	k.add(o, cfg)
}

// dockerConfigFile is what FromDockerConfig reads of a Docker config file beyond the kubelet's
// document: where the docker CLI keeps credentials outside the file.
type dockerConfigFile struct {
	CredsStore  string            `json:"credsStore"`
	CredHelpers map[string]string `json:"credHelpers"`
}

// FromDockerConfig builds a keyring from a Docker config file (~/.docker/config.json: an
// "auths" object of registry keys, each with "auth" or "username" and "password"), decoded and
// matched as the kubelet decodes and matches a kubernetes.io/dockerconfigjson secret:
// identitytoken and registrytoken are ignored, keys are normalised the same way. source names
// the file in messages ("~/.docker/config.json" reads as `docker config ~/.docker/config.json`).
// A file the kubelet could not decode is a *SecretError. Credentials kept by a credential store
// or helper (credsStore, credHelpers) are not read; Ignored says so.
func FromDockerConfig(data []byte, source string) (*Keyring, error) {
	o := origin{source: "docker config " + source}
	var doc dockerConfigJSON
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, newSecretError(o, "the file", data, err)
	}
	k := newKeyring()
	k.add(o, doc.Auths)
	var helpers dockerConfigFile
	// The kubelet's document decoded, so only these two fields' own types can fail; they are
	// only read to say what is not used.
	if json.Unmarshal(data, &helpers) == nil {
		if helpers.CredsStore != "" {
			k.ignored = append(k.ignored, fmt.Sprintf("%s: credentials in its credsStore %q are not read, only those in auths", o.name(), helpers.CredsStore))
		}
		for _, registry := range slices.Sorted(maps.Keys(helpers.CredHelpers)) {
			k.ignored = append(k.ignored, fmt.Sprintf("%s: credentials for %s from credHelpers %q are not read, only those in auths", o.name(), registry, helpers.CredHelpers[registry]))
		}
	}
	return k, nil
}

// Entry is one credential given explicitly (a command-line flag, a CI variable).
type Entry struct {
	// Key is the registry key, written as in a Docker config's auths: "reg.example.com",
	// "*.example.com", "quay.io/team", "https://index.docker.io/v1/".
	Key                string
	Username, Password string
}

// FromEntries builds a keyring from credentials given one by one, matched as the kubelet matches
// the keys of a pull secret. source names them in messages ("--registry-auth"). A key that is no
// valid URL, or given twice, is an error: the kubelet would silently ignore the one, and a
// Docker config cannot hold the other.
func FromEntries(source string, entries []Entry) (*Keyring, error) {
	o := origin{source: source}
	cfg := make(dockerConfig, len(entries))
	for _, e := range entries {
		if _, err := normaliseKey(e.Key); err != nil {
			return nil, fmt.Errorf("%s: registry key %q is not a valid URL", o.name(), redactKey(e.Key))
		}
		if _, dup := cfg[e.Key]; dup {
			return nil, fmt.Errorf("%s: registry key %q is given twice", o.name(), redactKey(e.Key))
		}
		cfg[e.Key] = dockerConfigEntry{Username: e.Username, Password: e.Password}
	}
	k := newKeyring()
	k.add(o, cfg)
	return k, nil
}
