package keyring

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// BenchmarkExplainNoMatch is the keyring work of every check, cached or not, for an image none of
// the pod's keys cover (a pod with a private registry's secret that also runs a public image):
// Lookup, then Explain's near-miss account of each key, which is part of the verdict cache key.
func BenchmarkExplainNoMatch(b *testing.B) {
	k := FromSecrets([]corev1.Secret{
		dockerConfigJSONSecret("regcred", map[string]entryJSON{
			"reg.example.com":             userPass(testUser, testPassword),
			"*.registry.internal":         userPass(testUser, testPassword),
			"quay.io/team":                userPass(testUser, testPassword),
			"https://index.docker.io/v1/": userPass(testUser, testPassword),
		}),
	})
	repo := ParseRepo("registry-1.docker.io/library/nginx")
	b.ReportAllocs()
	for b.Loop() {
		_ = k.Lookup(repo)
		_ = k.Explain(repo, testMaxKeys)
	}
}
