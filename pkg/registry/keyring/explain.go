package keyring

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Explain describes, in the kubelet's terms, why the secrets' keys do or do not apply to repo
// (reference.Reference.Repository). When nothing matched it gives, per secret in pod order, the
// keys it has and one line per near miss: a glob covering exactly one DNS label, a port mismatch,
// a path outside the key's prefix, a case difference, a key "index.docker.io/<path>" (never
// matched), a Docker Hub key against registry-1.docker.io. When something matched it notes
// matched entries that only hold identitytoken/registrytoken and an index.docker.io key skipped
// because the fallback is not needed. nil means there is nothing to add.
// A secret may hold tens of thousands of keys: at most maxKeys keys are listed per document, and
// at most maxKeys lines about single keys (invalid ones, near misses), each list saying how many
// it left out.
func (k *Keyring) Explain(r Repo, maxKeys int) []string {
	if k == nil {
		return nil
	}
	if k.parts != nil {
		return k.unionExplain(r, maxKeys)
	}
	entries, fallback := k.lookup(r)
	repo := r.raw
	if len(entries) > 0 {
		return k.explainMatched(repo, entries, fallback)
	}
	var lines []string
	for _, s := range k.secrets {
		if len(s.keys) > 0 {
			listed := strings.Join(s.keys[:min(len(s.keys), maxKeys)], ", ")
			if len(s.keys) > maxKeys {
				listed += fmt.Sprintf(" and %d more", len(s.keys)-maxKeys)
			}
			lines = append(lines, fmt.Sprintf("%s has entries for [%s] but none match %s", s.source, listed, repo))
		}
		var keyLines []string
		more := 0
		add := func(line string) {
			if len(keyLines) < maxKeys {
				keyLines = append(keyLines, line)
			} else {
				more++
			}
		}
		for _, written := range s.invalid {
			add(fmt.Sprintf("%s key %q is not a valid URL; the kubelet ignores it", s.source, redactKey(written)))
		}
		for i, key := range s.keys {
			if more > 0 && i > 0 {
				// Counting every near miss of 55,000 keys costs more than the message is worth.
				more = len(s.keys) - i + more
				break
			}
			if why := nearMiss(k.patterns[key].url, r); why != "" {
				add(fmt.Sprintf("%s key %q %s", s.source, key, why))
			}
		}
		if more > 0 {
			keyLines = append(keyLines, fmt.Sprintf("%s: up to %d more keys are invalid or nearly match", s.source, more))
		}
		lines = append(lines, keyLines...)
	}
	return lines
}

func (k *Keyring) explainMatched(repo string, entries []entry, fallback bool) []string {
	var lines []string
	for _, e := range entries {
		if e.tokensOnly {
			lines = append(lines, fmt.Sprintf("%s key %q holds only identitytoken/registrytoken, which the kubelet ignores; the runtime pulls anonymously with it",
				e.cred.SourceName(), redactKey(e.cred.Key)))
		}
	}
	if hub, ok := k.creds[defaultRegistryHost]; ok && !fallback && isDefaultRegistryMatch(repo) {
		for _, e := range hub {
			lines = append(lines, fmt.Sprintf("%s key %q is not used for %s: the kubelet falls back to index.docker.io only when no other key matches",
				e.cred.SourceName(), redactKey(e.cred.Key), repo))
		}
	}
	return lines
}

// nearMiss explains why a normalised key (parsed) that does not match repo was probably meant
// to, or returns "" when the key is simply for another registry. Both are parsed already: this
// runs for every key on every check of an image the keys do not cover.
func nearMiss(keyURL parsedURL, r Repo) string {
	repoURL, repo := r.url, r.raw
	if !keyURL.ok || !repoURL.ok {
		return ""
	}
	keyLabels, keyPort := keyURL.labels, keyURL.port
	repoLabels, repoPort := repoURL.labels, repoURL.port
	keyHost, repoHost := strings.Join(keyLabels, "."), strings.Join(repoLabels, ".")
	pathCovered := strings.HasPrefix(repoURL.path, keyURL.path)
	sameLabels := false
	if len(keyLabels) == len(repoLabels) {
		sameLabels, _ = labelsMatch(keyLabels, repoLabels)
	}

	switch {
	case keyHost == defaultRegistryHost && keyPort == "" && keyURL.path != "" && isDefaultRegistryMatch(repo):
		// Images are matched by their normalised name, which never starts with index.docker.io,
		// and the fallback only reads the bare key "index.docker.io".
		return fmt.Sprintf(`is never matched by the kubelet; use "docker.io%s" or "https://index.docker.io/v1/"`, keyURL.path)
	case repoHost == "registry-1.docker.io" && (keyHost == "docker.io" || keyHost == defaultRegistryHost):
		return "does not cover registry-1.docker.io: the kubelet matches the image name as written and treats only docker.io names as Docker Hub; write the image as docker.io/" + strings.TrimPrefix(repoURL.path, "/")
	case sameLabels && pathCovered && keyPort != repoPort:
		switch {
		case keyPort == "":
			return fmt.Sprintf("does not match port %s: ports must be equal and the key has none", repoPort)
		case repoPort == "":
			return fmt.Sprintf("requires port %s but the image names no port", keyPort)
		}
		return fmt.Sprintf("is for port %s, not %s: ports must be equal", keyPort, repoPort)
	case sameLabels && keyPort == repoPort && !pathCovered:
		return fmt.Sprintf("covers only repositories under %s%s", keyURL.host, keyURL.path)
	case len(keyLabels) != len(repoLabels) && keyPort == repoPort && pathCovered && suffixMatches(keyLabels, repoLabels):
		if strings.Contains(keyHost, "*") {
			return fmt.Sprintf(`matches exactly one DNS label per "*"; it does not cover %s`, repoHost)
		}
		if len(keyLabels) < len(repoLabels) {
			return fmt.Sprintf(`covers only the host %s, not %s; use "*.%s" for one more label`, keyHost, repoHost, keyHost)
		}
	case !sameLabels && strings.EqualFold(keyHost, repoHost) && keyPort == repoPort && pathCovered:
		return fmt.Sprintf("differs from %s only in letter case; the kubelet compares host names case-sensitively", repoHost)
	}
	return ""
}

// suffixMatches reports whether the shorter label list matches the end of the longer one, label by
// label with filepath.Match (glob labels of the key included).
func suffixMatches(keyLabels, repoLabels []string) bool {
	n := min(len(keyLabels), len(repoLabels))
	keyTail, repoTail := keyLabels[len(keyLabels)-n:], repoLabels[len(repoLabels)-n:]
	for i := range n {
		if ok, err := filepath.Match(keyTail[i], repoTail[i]); err != nil || !ok {
			return false
		}
	}
	return true
}
