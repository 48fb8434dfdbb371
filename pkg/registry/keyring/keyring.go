package keyring

import (
	"encoding/json"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Keyring is the kubelet's keyring for one pod's imagePullSecrets. The zero value and nil are
// empty keyrings.
type Keyring struct {
	// index holds the unique normalised keys in reverse lexicographic order, the kubelet's
	// lookup order: longer, more specific paths first and globs ('*' sorts low) last.
	index []string
	// patterns holds each key parsed, for matching.
	patterns map[string]Pattern
	// creds holds the credentials under each normalised key in insertion order.
	creds map[string][]entry
	// secrets are the decoded secrets in pod order, for Explain.
	secrets []secretKeys
	ignored []string
	err     *SecretError
}

type entry struct {
	cred Credential
	// tokensOnly marks an entry with only identitytoken/registrytoken, which the kubelet drops.
	tokensOnly bool
}

type secretKeys struct {
	name string
	// keys are the normalised keys, sorted, each once.
	keys []string
	// invalid are keys as written that do not parse as URLs; the kubelet skips them.
	invalid []string
}

// FromSecrets builds the keyring the kubelet builds from these pull secrets, given in pod order.
// Secrets of other types, or without data under their type's key, are skipped (see Ignored). A
// document the kubelet cannot decode makes Err return a *SecretError naming the first such secret.
func FromSecrets(secrets []corev1.Secret) *Keyring {
	k := &Keyring{creds: map[string][]entry{}, patterns: map[string]Pattern{}}
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
	if err != nil {
		// The kubelet stops at the first undecodable secret; later ones are still read here so
		// that Ignored and Explain can describe the whole pod.
		if k.err == nil {
			k.err = newSecretError(secret.Name, dataKey, secret.Data[dataKey], err)
		}
		return
	}
	k.add(secret.Name, cfg)
}

// add is BasicDockerKeyring.Add. The kubelet ranges over the map in random order; keys are taken
// in sorted order here so credentials under a shared normalised key have a stable order.
func (k *Keyring) add(secret string, cfg dockerConfig) {
	info := secretKeys{name: secret}
	for _, written := range slices.Sorted(maps.Keys(cfg)) {
		key, err := normaliseKey(written)
		if err != nil {
			info.invalid = append(info.invalid, written)
			continue
		}
		e := cfg[written]
		k.creds[key] = append(k.creds[key], entry{
			cred:       Credential{Username: e.Username, Password: e.Password, Secret: secret, Key: written},
			tokensOnly: e.tokens && e.Username == "",
		})
		k.index = append(k.index, key)
		if _, ok := k.patterns[key]; !ok {
			k.patterns[key] = ParsePattern(key)
		}
		info.keys = append(info.keys, key)
	}
	slices.Sort(info.keys)
	info.keys = slices.Compact(info.keys)
	k.secrets = append(k.secrets, info)

	slices.Sort(k.index)
	k.index = slices.Compact(k.index)
	slices.Reverse(k.index)
}

// Err returns the *SecretError that makes the kubelet fail the pull before contacting any
// registry, or nil.
func (k *Keyring) Err() error {
	if k == nil || k.err == nil {
		return nil
	}
	return k.err
}

// Ignored returns one line per secret the kubelet skips.
func (k *Keyring) Ignored() []string {
	if k == nil {
		return nil
	}
	return slices.Clone(k.ignored)
}

// Lookup returns the credentials the kubelet tries for repo, in the kubelet's order: every
// matching key in index order, or, only when none matched, the Docker Hub fallback. nil means an
// anonymous pull. It also returns nil when Err is set, because the kubelet then never pulls.
func (k *Keyring) Lookup(repo Repo) []Credential {
	if k == nil || k.err != nil {
		return nil
	}
	entries, _ := k.lookup(repo)
	if len(entries) == 0 {
		return nil
	}
	creds := make([]Credential, len(entries))
	for i, e := range entries {
		creds[i] = e.cred
	}
	return creds
}

// lookup is BasicDockerKeyring.Lookup; fallback reports that the index.docker.io entries were used.
func (k *Keyring) lookup(repo Repo) (entries []entry, fallback bool) {
	for _, key := range k.index {
		if k.patterns[key].Matches(repo) {
			entries = append(entries, k.creds[key]...)
		}
	}
	if len(entries) > 0 {
		return entries, false
	}
	if isDefaultRegistryMatch(repo.raw) {
		if hub, ok := k.creds[defaultRegistryHost]; ok {
			return hub, true
		}
	}
	return nil, false
}

// Keys returns the normalised keys of all decoded secrets, sorted, for messages such as
// "has entries for [quay.io]".
func (k *Keyring) Keys() []string {
	if k == nil {
		return nil
	}
	return slices.Sorted(slices.Values(k.index))
}
