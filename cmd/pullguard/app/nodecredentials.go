package app

import (
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// maxDockerConfigBytes bounds --docker-config; a real one is a few KiB.
const maxDockerConfigBytes = 1 << 20

// nodeCredentials is --docker-config: the nodes' credentials, read once.
type nodeCredentials struct {
	// keyring is the file alone (keyring.FromDockerConfig), for pods without pull secrets.
	keyring *keyring.Keyring
	// secret is the same auths as an unnamed pull secret, to stand in for a secret the input
	// names but does not hold, and to join a pod's secrets in one keyring.
	secret *corev1.Secret
}

// loadDockerConfig reads a ~/.docker/config.json (its "auths" are the format of a
// kubernetes.io/dockerconfigjson secret). A file the kubelet could not decode is an input
// error, never a verdict on every image.
func loadDockerConfig(path string) (*nodeCredentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--docker-config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDockerConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("--docker-config: %w", err)
	}
	if len(data) > maxDockerConfigBytes {
		return nil, fmt.Errorf("--docker-config: %s is larger than %d bytes", path, maxDockerConfigBytes)
	}
	kr, err := keyring.FromDockerConfig(data, path)
	if err != nil {
		return nil, fmt.Errorf("--docker-config: %w", err)
	}
	if len(kr.Keys()) == 0 {
		return nil, fmt.Errorf("--docker-config %s has no entries under \"auths\" (credential helpers and credsStore are not read)", path)
	}
	return &nodeCredentials{keyring: kr, secret: &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: data}}}, nil
}

// withNodeCredentials is the keyring of the pod's secrets followed by the node's credentials,
// as the kubelet unions the pull secrets' keyring with the node's.
//
// Temporary, for pods with pull secrets: the engine has no union of keyrings yet, so the file
// joins the secrets as an unnamed secret in one keyring, which orders the keys of both sources
// together rather than the secrets' first, and names its credentials by key only.
func withNodeCredentials(read []corev1.Secret, node *nodeCredentials) *keyring.Keyring {
	if len(read) == 0 {
		return node.keyring
	}
	return keyring.FromSecrets(append(append([]corev1.Secret(nil), read...), *node.secret))
}
