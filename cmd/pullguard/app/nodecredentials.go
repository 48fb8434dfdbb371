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
	// keyring is the file (keyring.FromDockerConfig), joined to each pod's pull secrets as the
	// kubelet joins the node's credentials (keyring.Union).
	keyring *keyring.Keyring
	// secret is the same auths as a pull secret, to stand in for one that neither the input nor
	// the cluster holds.
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
