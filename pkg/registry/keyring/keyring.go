package keyring

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"sync"
)

// Keyring is the kubelet's keyring for one pod's imagePullSecrets (FromSecrets), or for the
// credentials of a Docker config file (FromDockerConfig) or given one by one (FromEntries),
// matched by the same rules, or the Union of such keyrings (a pod's and its node's). The zero
// value and nil are empty keyrings.
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

	// prepare builds, once, what every check reads: the patterns in index order (a 1 MiB secret
	// holds 55,000 keys; a map lookup per key per check is most of a cached check) and the
	// explanation's identity.
	prepare       sync.Once
	indexPatterns []Pattern
	explainID     string

	// parts, when not nil, make this keyring the Union of them; every other field is unused.
	parts []*Keyring
}

type entry struct {
	cred Credential
	// tokensOnly marks an entry with only identitytoken/registrytoken, which the kubelet drops.
	tokensOnly bool
}

type secretKeys struct {
	// source names the secret or other document for messages (Credential.SourceName).
	source string
	// keys are the normalised keys, sorted, each once.
	keys []string
	// invalid are keys as written that do not parse as URLs; the kubelet skips them.
	invalid []string
}

// origin is where a document of credentials comes from: a pull secret or another source.
type origin struct{ secret, source string }

func (o origin) name() string { return Credential{Secret: o.secret, Source: o.source}.SourceName() }

func newKeyring() *Keyring {
	return &Keyring{creds: map[string][]entry{}, patterns: map[string]Pattern{}}
}

// add is BasicDockerKeyring.Add. The kubelet ranges over the map in random order; keys are taken
// in sorted order here so credentials under a shared normalised key have a stable order.
func (k *Keyring) add(o origin, cfg dockerConfig) {
	info := secretKeys{source: o.name()}
	for _, written := range slices.Sorted(maps.Keys(cfg)) {
		key, err := normaliseKey(written)
		if err != nil {
			info.invalid = append(info.invalid, written)
			continue
		}
		e := cfg[written]
		k.creds[key] = append(k.creds[key], entry{
			cred:       Credential{Username: e.Username, Password: e.Password, Secret: o.secret, Source: o.source, Key: written},
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
	if k != nil && k.parts != nil {
		return k.unionErr()
	}
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
	if k.parts != nil {
		return k.unionIgnored()
	}
	return slices.Clone(k.ignored)
}

// Lookup returns the credentials the kubelet tries for repo, in the kubelet's order: every
// matching key in index order, or, only when none matched, the Docker Hub fallback. nil means an
// anonymous pull. It also returns nil when Err is set, because the kubelet then never pulls.
func (k *Keyring) Lookup(repo Repo) []Credential {
	if k != nil && k.parts != nil {
		return k.unionLookup(repo)
	}
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
	k.prepare.Do(k.prepared)
	for i, key := range k.index {
		if k.indexPatterns[i].Matches(repo) {
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
	if k.parts != nil {
		return k.unionKeys()
	}
	return slices.Sorted(slices.Values(k.index))
}

// ExplainID identifies everything Explain reads of the keyring (the documents' sources and
// keys in order and what each key holds), so that a cached verdict can be keyed by it without
// computing an explanation on every check.
func (k *Keyring) ExplainID() string {
	if k == nil {
		return ""
	}
	if k.parts != nil {
		return k.unionExplainID()
	}
	k.prepare.Do(k.prepared)
	return k.explainID
}

func (k *Keyring) prepared() {
	k.indexPatterns = make([]Pattern, len(k.index))
	for i, key := range k.index {
		k.indexPatterns[i] = k.patterns[key]
	}
	h := sha256.New()
	field := func(s string) {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	for _, s := range k.secrets {
		field(s.source)
		field(strconv.Itoa(len(s.keys)))
		for _, key := range s.keys {
			field(key)
		}
		field(strconv.Itoa(len(s.invalid)))
		for _, key := range s.invalid {
			field(key)
		}
	}
	for _, key := range k.index {
		for _, e := range k.creds[key] {
			field(e.cred.Secret)
			field(e.cred.Key)
			if e.tokensOnly {
				field("tokens-only")
			}
		}
	}
	k.explainID = hex.EncodeToString(h.Sum(nil))
}
