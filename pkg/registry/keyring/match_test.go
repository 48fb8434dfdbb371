package keyring

import "testing"

// TestMatch ports the kubelet's TestURLsMatch and adds the rules of docs/pull-semantics.md.
func TestMatch(t *testing.T) {
	tests := map[string]struct {
		pattern, repo string
		want          bool
	}{
		"glob first label":                     {"*.kubernetes.io", "prefix.kubernetes.io", true},
		"glob middle label":                    {"prefix.*.io", "prefix.kubernetes.io", true},
		"glob last label":                      {"prefix.kubernetes.*", "prefix.kubernetes.io", true},
		"partial label glob":                   {"*-good.kubernetes.io", "prefix-good.kubernetes.io", true},
		"glob with path":                       {"*.kubernetes.io/blah", "prefix.kubernetes.io/blah", true},
		"glob with path prefix":                {"prefix.*.io/foo", "prefix.kubernetes.io/foo/bar", true},
		"glob with port and path":              {"*.kubernetes.io:1111/blah", "prefix.kubernetes.io:1111/blah", true},
		"glob with port and path prefix":       {"prefix.*.io:1111/foo", "prefix.kubernetes.io:1111/foo/bar", true},
		"glob needs one more label":            {"*.kubernetes.io", "kubernetes.io", false},
		"two globs, two labels short":          {"*.*.kubernetes.io", "prefix.kubernetes.io", false},
		"two globs, bare domain":               {"*.*.kubernetes.io", "kubernetes.io", false},
		"partial glob does not span a dot":     {"*kubernetes.io", "a.kubernetes.io", false},
		"partial glob may match empty":         {"*kubernetes.io", "kubernetes.io", true},
		"three globs":                          {"*.*.*.kubernetes.io", "a.b.c.kubernetes.io", true},
		"different TLD":                        {"kubernetes.io", "kubernetes.com", false},
		"glob label mismatch":                  {"k*.io", "quay.io", false},
		"different ports":                      {"*.kubernetes.io:1234/blah", "prefix.kubernetes.io:1111/blah", false},
		"pattern without port":                 {"prefix.*.io/foo", "prefix.kubernetes.io:1111/foo/bar", false},
		"plain string path prefix":             {"reg.example.com/te", "reg.example.com/team/app", true},
		"path not a prefix":                    {"reg.example.com/team", "reg.example.com/other/app", false},
		"case-sensitive host":                  {"Reg.example.com", "reg.example.com/app", false},
		"docker.io key, hub repo (rule 15)":    {"docker.io", "docker.io/library/nginx", true},
		"registry-1 is another host (rule 46)": {"docker.io", "registry-1.docker.io/library/nginx", false},
		"invalid pattern matches nothing":      {"[", "[/x", false},
		"unparseable pattern":                  {"a b", "a b", false},
		"IPv6 host with port":                  {"[::1]:5000", "[::1]:5000/app", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Match(tc.pattern, tc.repo); got != tc.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.repo, got, tc.want)
			}
		})
	}
}
