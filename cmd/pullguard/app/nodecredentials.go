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

// loadDockerConfig reads a ~/.docker/config.json (its "auths" are the format of a
// kubernetes.io/dockerconfigjson secret) as an unnamed pull secret, so that the credentials it
// yields are named by key only, like node credentials. A file the kubelet could not decode is
// an input error, never a verdict on every image.
//
// Temporary: replaced by the engine's keyring from a Docker config file once it lands.
func loadDockerConfig(path string) (*corev1.Secret, error) {
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
	s := &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: data}}
	kr := keyring.FromSecrets([]corev1.Secret{*s})
	if err := kr.Err(); err != nil {
		return nil, fmt.Errorf("--docker-config %s: %w", path, err)
	}
	if len(kr.Keys()) == 0 {
		return nil, fmt.Errorf("--docker-config %s has no entries under \"auths\" (credential helpers and credsStore are not read)", path)
	}
	return s, nil
}

// withNodeCredentials is the keyring of the pod's secrets followed by the node's credentials,
// as the kubelet unions the pull secrets' keyring with the node's.
//
// Temporary: replaced by the engine's node credential source once it lands. Until then both go
// into one keyring, which orders keys of the two sources together rather than secrets first.
func withNodeCredentials(read []corev1.Secret, node *corev1.Secret) *keyring.Keyring {
	return keyring.FromSecrets(append(append([]corev1.Secret(nil), read...), *node))
}
