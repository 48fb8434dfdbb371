package testbed

import (
	"fmt"
	"os"
	"path/filepath"
)

// Environment variables the Makefile sets (E2E_ENV) to point the bed at the binaries it built.
const (
	EnvAssets   = "KUBEBUILDER_ASSETS"
	EnvKubectl  = "PULLGUARD_KUBECTL"
	EnvRegistry = "PULLGUARD_REGISTRY"
)

// Binaries are the paths of the executables the bed runs.
type Binaries struct {
	KubeAPIServer string
	Etcd          string
	Kubectl       string
	Registry      string
}

// MissingBinaryError says which binary is missing and how to get it.
type MissingBinaryError struct {
	Name string
	// Path is where it was looked for ("" when the environment variable is unset).
	Path string
	Env  string
}

func (e *MissingBinaryError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s: %s is not set; run the tests through `make test` or `make test-e2e` "+
			"(they build the pinned binaries with `make tools` and set it)", e.Name, e.Env)
	}
	return fmt.Sprintf("%s not found at %s (from %s); run `make tools` to build it, or run the tests "+
		"through `make test`", e.Name, e.Path, e.Env)
}

// BinariesFromEnv finds every binary through the Makefile's environment and checks that each one
// exists and is executable.
func BinariesFromEnv() (Binaries, error) {
	assets := os.Getenv(EnvAssets)
	b := Binaries{
		Kubectl:  os.Getenv(EnvKubectl),
		Registry: os.Getenv(EnvRegistry),
	}
	if assets != "" {
		b.KubeAPIServer = filepath.Join(assets, "kube-apiserver")
		b.Etcd = filepath.Join(assets, "etcd")
	}
	for _, c := range []struct{ name, path, env string }{
		{"kube-apiserver", b.KubeAPIServer, EnvAssets},
		{"etcd", b.Etcd, EnvAssets},
		{"kubectl", b.Kubectl, EnvKubectl},
		{"registry", b.Registry, EnvRegistry},
	} {
		if err := checkExecutable(c.name, c.path, c.env); err != nil {
			return Binaries{}, err
		}
	}
	return b, nil
}

func checkExecutable(name, path, env string) error {
	if path == "" {
		return &MissingBinaryError{Name: name, Env: env}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return &MissingBinaryError{Name: name, Path: path, Env: env}
	}
	return nil
}
