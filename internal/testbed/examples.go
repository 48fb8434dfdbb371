package testbed

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// RegistryPlaceholder is the host the files in examples/ use for their images.
const RegistryPlaceholder = "REGISTRY"

// Example is one file of examples/ with the placeholder replaced.
type Example struct {
	// File is the file name ("typo-tag.yaml").
	File string
	// Summary is the file's first comment line: what it demonstrates.
	Summary string
	// Manifest is the file with RegistryPlaceholder replaced by the registry host.
	Manifest []byte
}

// LoadExamples reads every examples/*.yaml under root in name order and points its images at
// registryHost.
func LoadExamples(root, registryHost string) ([]Example, error) {
	files, err := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("listing examples: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no examples/*.yaml under %s", root)
	}
	sort.Strings(files)
	out := make([]Example, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading example: %w", err)
		}
		placeholder := []byte(RegistryPlaceholder + "/")
		if !bytes.Contains(b, placeholder) {
			return nil, fmt.Errorf("example %s has no image on %s/", f, RegistryPlaceholder)
		}
		out = append(out, Example{
			File:     filepath.Base(f),
			Summary:  summary(b),
			Manifest: bytes.ReplaceAll(b, placeholder, []byte(registryHost+"/")),
		})
	}
	return out, nil
}

func summary(manifest []byte) string {
	for _, line := range strings.Split(string(manifest), "\n") {
		if c, ok := strings.CutPrefix(strings.TrimSpace(line), "#"); ok {
			return strings.TrimSpace(c)
		}
	}
	return ""
}

// Outcome is how an apply ended, as a user reads kubectl's output.
type Outcome string

const (
	Admitted            Outcome = "admitted"
	AdmittedWithWarning Outcome = "admitted with a warning"
	Refused             Outcome = "refused"
)

// OutcomeOf classifies a kubectl apply: refused on a non-zero exit, else admitted, with a warning
// when kubectl printed one.
func OutcomeOf(res KubectlResult) Outcome {
	switch {
	case res.ExitCode != 0:
		return Refused
	case strings.Contains(res.Stderr, "Warning: "):
		return AdmittedWithWarning
	}
	return Admitted
}
