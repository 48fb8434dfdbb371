package keyring

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
)

// Union is the keyring the kubelet pulls with when a node has credentials of its own:
// secrets.MakeDockerKeyring returns UnionDockerKeyring{the pod's pull secrets, the node's
// keyring} (k8s.io/kubernetes pkg/credentialprovider/secrets/secrets.go, keyring.go). Each part
// is matched on its own, Docker Hub fallback included, and Lookup returns every part's
// credentials in the order of parts: the pod's secrets first, then the node's. A pull secret the
// kubelet cannot decode fails the whole lookup, so Err is the first part's error. A union given
// as a part is flattened; nil parts are skipped.
func Union(parts ...*Keyring) *Keyring {
	u := &Keyring{parts: []*Keyring{}}
	for _, p := range parts {
		switch {
		case p == nil:
		case p.parts != nil:
			u.parts = append(u.parts, p.parts...)
		default:
			u.parts = append(u.parts, p)
		}
	}
	return u
}

func (k *Keyring) unionErr() error {
	for _, p := range k.parts {
		if err := p.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (k *Keyring) unionIgnored() []string {
	var out []string
	for _, p := range k.parts {
		out = append(out, p.Ignored()...)
	}
	return out
}

func (k *Keyring) unionLookup(repo Repo) []Credential {
	if k.unionErr() != nil {
		return nil
	}
	var out []Credential
	for _, p := range k.parts {
		out = append(out, p.Lookup(repo)...)
	}
	return out
}

func (k *Keyring) unionKeys() []string {
	var out []string
	for _, p := range k.parts {
		out = append(out, p.Keys()...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// unionExplain explains the parts that matched when any did (a part that matched nothing adds
// nothing to a pull that has credentials), else every part's near misses.
func (k *Keyring) unionExplain(r Repo, maxKeys int) []string {
	matched := false
	for _, p := range k.parts {
		if entries, _ := p.lookup(r); len(entries) > 0 {
			matched = true
		}
	}
	var lines []string
	for _, p := range k.parts {
		entries, fallback := p.lookup(r)
		switch {
		case len(entries) > 0:
			lines = append(lines, p.explainMatched(r.raw, entries, fallback)...)
		case !matched:
			lines = append(lines, p.Explain(r, maxKeys)...)
		}
	}
	return lines
}

func (k *Keyring) unionExplainID() string {
	h := sha256.New()
	h.Write([]byte("union"))
	for _, p := range k.parts {
		h.Write([]byte{0})
		h.Write([]byte(p.ExplainID()))
	}
	return hex.EncodeToString(h.Sum(nil))
}
