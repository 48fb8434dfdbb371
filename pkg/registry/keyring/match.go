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
	matched, err := urlsMatchStr(pattern, repo)
	return err == nil && matched
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
	parts := strings.SplitN(image, "/", 2)

	if len(parts[0]) == 0 {
		return false
	}
	if len(parts) == 1 {
		return true
	}
	if parts[0] == "docker.io" || parts[0] == "index.docker.io" {
		return true
	}
	// A '.' (domain) or ':' (port) marks the first element as a location rather than a user name.
	return !strings.ContainsAny(parts[0], ".:")
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

func urlsMatchStr(glob, target string) (bool, error) {
	globURL, err := parseSchemelessURL(glob)
	if err != nil {
		return false, err
	}
	targetURL, err := parseSchemelessURL(target)
	if err != nil {
		return false, err
	}
	return urlsMatch(globURL, targetURL)
}

// urlsMatch is URLsMatch. Wildcards are supported in host labels only, not in ports or paths.
func urlsMatch(globURL, targetURL *url.URL) (bool, error) {
	globURLParts, globPort := splitURL(globURL)
	targetURLParts, targetPort := splitURL(targetURL)
	if globPort != targetPort {
		return false, nil
	}
	if len(globURLParts) != len(targetURLParts) {
		return false, nil
	}
	if !strings.HasPrefix(targetURL.Path, globURL.Path) {
		return false, nil
	}
	return labelsMatch(globURLParts, targetURLParts)
}

// labelsMatch matches equally long label lists pairwise with filepath.Match.
func labelsMatch(globParts, targetParts []string) (bool, error) {
	for k, globURLPart := range globParts {
		matched, err := filepath.Match(globURLPart, targetParts[k])
		if err != nil || !matched {
			return false, err
		}
	}
	return true, nil
}
