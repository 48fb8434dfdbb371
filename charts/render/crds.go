package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
)

// ReportsModule is the Go module whose CRDs the chart ships in crds/: the openreports.io Report
// the re-verifier writes. Its version is the one charts/go.mod requires.
const ReportsModule = "github.com/openreports/reports-api"

// reportsCRDDir is where the module keeps its generated CRDs.
const reportsCRDDir = "config/crd"

// ReportsCRDs returns the module's CRD files at the version charts/go.mod pins, keyed by file
// name, read from the module cache (`go mod download` fetches the module from the module
// proxy when it is not there yet). dir is any directory of the charts module.
func ReportsCRDs(dir string) (map[string][]byte, error) {
	cmd := exec.Command("go", "mod", "download", "-json", ReportsModule)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go mod download %s: %w: %s", ReportsModule, err, stderr.String())
	}
	var mod struct{ Dir, Version string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return nil, fmt.Errorf("go mod download %s: %w", ReportsModule, err)
	}
	paths, err := filepath.Glob(filepath.Join(mod.Dir, reportsCRDDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s@%s has no CRDs in %s", ReportsModule, mod.Version, reportsCRDDir)
	}
	files := map[string][]byte{}
	for _, p := range slices.Sorted(slices.Values(paths)) {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		files[filepath.Base(p)] = b
	}
	return files, nil
}
