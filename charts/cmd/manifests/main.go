// Command manifests writes manifests/base, manifests/components/self-managed and
// certs/cert-manager from the Helm chart, so the kustomize install and the chart are one source:
// `make manifests` runs it, and the render package's tests fail when the checked-in files differ
// from what it writes.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pullguard/pullguard/charts/render"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "manifests:", err)
		os.Exit(1)
	}
}

func run() error {
	root := flag.String("root", "..", "repository root (where charts/, manifests/ and certs/ are)")
	flag.Parse()
	ch, err := render.Load(filepath.Join(*root, "charts", "pullguard"))
	if err != nil {
		return err
	}
	files, err := render.Manifests(ch)
	if err != nil {
		return err
	}
	for path, text := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(*root, path)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*root, path), []byte(text), 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", path)
	}
	return nil
}
