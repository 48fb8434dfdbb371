package keyring

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestUnion: the kubelet's UnionDockerKeyring of the pod's pull secrets and the node's
// credentials (docs/pull-semantics.md §2.1): each part matched on its own, the pod's first.
func TestUnion(t *testing.T) {
	const source = "config.json"
	node := func(t *testing.T, auths string) *Keyring {
		t.Helper()
		k, err := FromDockerConfig([]byte(`{"auths":{`+auths+`}}`), source)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	nodeCred := func(key, user, pass string) Credential {
		return Credential{Username: user, Password: pass, Source: "docker config " + source, Key: key}
	}
	tests := map[string]struct {
		secrets []corev1.Secret
		node    string
		repo    string
		want    []Credential
		explain [][]string
		err     bool
	}{
		"the pod's secrets first, then the node's": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("regcred", map[string]entryJSON{"reg.example.com": userPass("pod", "p1")})},
			node:    `"reg.example.com":{"username":"node","password":"p2"}`,
			repo:    "reg.example.com/team/app",
			want:    []Credential{cred("regcred", "reg.example.com", "pod", "p1"), nodeCred("reg.example.com", "node", "p2")},
		},
		"only the node's match": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("regcred", map[string]entryJSON{"quay.io": userPass("pod", "p1")})},
			node:    `"reg.example.com":{"username":"node","password":"p2"}`,
			repo:    "reg.example.com/team/app",
			want:    []Credential{nodeCred("reg.example.com", "node", "p2")},
		},
		"each part falls back to index.docker.io on its own": {
			// In one keyring the docker.io key would hide the index.docker.io one.
			secrets: []corev1.Secret{dockerConfigJSONSecret("hub", map[string]entryJSON{"https://index.docker.io/v1/": userPass("pod", "p1")})},
			node:    `"docker.io":{"username":"node","password":"p2"}`,
			repo:    "docker.io/myorg/app",
			want:    []Credential{cred("hub", "https://index.docker.io/v1/", "pod", "p1"), nodeCred("docker.io", "node", "p2")},
		},
		"nothing matches: both parts explain": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("regcred", map[string]entryJSON{"quay.io": userPass("pod", "p1")})},
			node:    `"ghcr.io":{"username":"node","password":"p2"}`,
			repo:    "reg.example.com/team/app",
			explain: [][]string{
				{`imagePullSecret "regcred" has entries for [quay.io] but none match reg.example.com/team/app`},
				{`docker config config.json has entries for [ghcr.io] but none match reg.example.com/team/app`},
			},
		},
		"an undecodable pull secret fails the whole lookup": {
			secrets: []corev1.Secret{rawSecret("bad", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths":`)},
			node:    `"reg.example.com":{"username":"node","password":"p2"}`,
			repo:    "reg.example.com/team/app",
			err:     true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pod := FromSecrets(tc.secrets)
			u := Union(pod, node(t, tc.node))
			if (u.Err() != nil) != tc.err {
				t.Fatalf("Err() = %v, want an error: %v", u.Err(), tc.err)
			}
			repo := ParseRepo(tc.repo)
			if got := u.Lookup(repo); !slices.Equal(got, tc.want) {
				t.Errorf("Lookup(%q)\n got %v\nwant %v", tc.repo, got, tc.want)
			}
			if !tc.err {
				assertLines(t, "Explain", u.Explain(repo, testMaxKeys), tc.explain)
			}
			if u.ExplainID() == pod.ExplainID() {
				t.Error("the union's ExplainID is its first part's")
			}
		})
	}
}

func TestUnionFlattensAndSkipsNil(t *testing.T) {
	a := FromSecrets([]corev1.Secret{dockerConfigJSONSecret("a", map[string]entryJSON{"quay.io": userPass("u", "p")})})
	b := FromSecrets([]corev1.Secret{dockerConfigJSONSecret("b", map[string]entryJSON{"ghcr.io": userPass("u", "p")})})
	u := Union(Union(a, nil), b)
	if got, want := u.Keys(), []string{"ghcr.io", "quay.io"}; !slices.Equal(got, want) {
		t.Errorf("Keys() = %q, want %q", got, want)
	}
	if got := Union(nil).Lookup(ParseRepo("quay.io/x")); got != nil {
		t.Errorf("an empty union's Lookup = %v", got)
	}
}
