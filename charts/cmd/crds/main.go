// Command crds copies the openreports.io CRDs from the reports-api module, at the version
// charts/go.mod pins, into the chart's crds/: `make crds` runs it, and the render package's
// tests fail when the checked-in copies differ from the module's files.
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
		fmt.Fprintln(os.Stderr, "crds:", err)
		os.Exit(1)
	}
}

func run() error {
	chart := flag.String("chart", "pullguard", "chart directory whose crds/ is written")
	flag.Parse()
	files, err := render.ReportsCRDs(".")
	if err != nil {
		return err
	}
	dir := filepath.Join(*chart, "crds")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", filepath.Join(dir, name))
	}
	return nil
}
