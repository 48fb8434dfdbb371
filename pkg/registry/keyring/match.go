package keyring

import (
	"net"
	"net/url"
	"path/filepath"
	"strings"
)

// Ported from k8s.io/kubernetes pkg/credentialprovider/keyring.go.

// defaultRegistryHost is the key the kubelet falls back to for Docker Hub images. kubectl writes it
// as "https://index.docker.io/v1/", which normalises to this.
const defaultRegistryHost = "index.docker.io"

// Match reports whether a kubelet credential key or credential-provider matchImages pattern
// matches repo (URLsMatchStr): equal ports, the same number of host labels, each label matched
// by filepath.Match, and the pattern's path a plain prefix of repo's path. An unparseable pattern
// or repo matches nothing, as in the kubelet.
func Match(pattern, repo string) bool {
	return ParsePattern(pattern).Matches(ParseRepo(repo))
}

// Pattern is a credential key or matchImages pattern parsed once (ParseSchemelessURL and
// SplitURL), to be matched against many repositories without parsing it again each time. The
// zero Pattern, like an unparseable one, matches nothing.
type Pattern struct{ url parsedURL }

// Repo is a repository (reference.Reference.Repository, e.g. "docker.io/library/nginx") parsed
// once, to be matched against many patterns.
type Repo struct {
	raw string
	url parsedURL
}

// parsedURL is what URLsMatch (and Explain) read of a schemeless URL.
type parsedURL struct {
	host   string // host[:port], as written
	labels []string
	port   string
	path   string
	ok     bool
}

func parseURL(s string) parsedURL {
	u, err := parseSchemelessURL(s)
	if err != nil {
		return parsedURL{}
	}
	labels, port := splitURL(u)
	return parsedURL{host: u.Host, labels: labels, port: port, path: u.Path, ok: true}
}

// ParsePattern parses a credential key or matchImages pattern.
func ParsePattern(pattern string) Pattern { return Pattern{parseURL(pattern)} }

// ParseRepo parses a repository (reference.Reference.Repository).
func ParseRepo(repo string) Repo { return Repo{raw: repo, url: parseURL(repo)} }

// Matches is Match on parsed forms.
func (p Pattern) Matches(r Repo) bool {
	g, t := p.url, r.url
	if !g.ok || !t.ok || g.port != t.port || len(g.labels) != len(t.labels) || !strings.HasPrefix(t.path, g.path) {
		return false
	}
	matched, err := labelsMatch(g.labels, t.labels)
	return err == nil && matched
}

// Patterns are several patterns parsed once.
type Patterns []Pattern

// ParsePatterns parses each pattern.
func ParsePatterns(patterns []string) Patterns {
	out := make(Patterns, len(patterns))
	for i, p := range patterns {
		out[i] = ParsePattern(p)
	}
	return out
}

// MatchAny reports whether any pattern matches r.
func (ps Patterns) MatchAny(r Repo) bool {
	for _, p := range ps {
		if p.Matches(r) {
			return true
		}
	}
	return false
}

// normaliseKey is the key computation of BasicDockerKeyring.Add.
func normaliseKey(repository string) (string, error) {
	if !strings.HasPrefix(repository, "https://") && !strings.HasPrefix(repository, "http://") {
		repository = "https://" + repository
	}
	parsed, err := url.Parse(repository)
	if err != nil {
		return "", err
	}

	// The docker client treats /v2/ and /v1/ as the bare host (ResolveAuthConfig).
	effectivePath := parsed.Path
	if strings.HasPrefix(effectivePath, "/v2/") || strings.HasPrefix(effectivePath, "/v1/") {
		effectivePath = effectivePath[3:]
	}
	if len(effectivePath) > 0 && effectivePath != "/" {
		return parsed.Host + effectivePath, nil
	}
	return parsed.Host, nil
}

// isDefaultRegistryMatch reports whether image would be pulled from Docker Hub judging by its name.
func isDefaultRegistryMatch(image string) bool {
	// The kubelet's strings.SplitN(image, "/", 2), without allocating the parts.
	first, _, more := strings.Cut(image, "/")

	if len(first) == 0 {
		return false
	}
	if !more {
		return true
	}
	if first == "docker.io" || first == "index.docker.io" {
		return true
	}
	// A '.' (domain) or ':' (port) marks the first element as a location rather than a user name.
	return !strings.ContainsAny(first, ".:")
}

// parseSchemelessURL is ParseSchemelessURL.
func parseSchemelessURL(schemelessURL string) (*url.URL, error) {
	parsed, err := url.Parse("https://" + schemelessURL)
	if err != nil {
		return nil, err
	}
	parsed.Scheme = ""
	return parsed, nil
}

// splitURL is SplitURL: the host's dot-separated labels and the port.
func splitURL(u *url.URL) (parts []string, port string) {
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, port = u.Host, ""
	}
	return strings.Split(host, "."), port
}

// labelsMatch matches equally long label lists pairwise with filepath.Match.
func labelsMatch(globParts, targetParts []string) (bool, error) {
	for k, globURLPart := range globParts {
		if !strings.ContainsAny(globURLPart, `*?[\`) {
			// filepath.Match without a metacharacter is equality; this runs for every key of
			// every secret on every check.
			if globURLPart != targetParts[k] {
				return false, nil
			}
			continue
		}
		matched, err := filepath.Match(globURLPart, targetParts[k])
		if err != nil || !matched {
			return false, err
		}
	}
	return true, nil
}
