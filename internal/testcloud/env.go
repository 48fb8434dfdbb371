package testcloud

import (
	"os"
	"path/filepath"
	"testing"
)

// projectedToken is the Kubernetes service account token the fakes expect the SDKs to present
// from the projected token file (AWS web identity, Azure workload identity).
const projectedToken = "projected-sa-token"

// projectedTokenFile writes projectedToken into a file in dir and returns its path.
func projectedTokenFile(t testing.TB, dir string) string {
	t.Helper()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte(projectedToken), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// setenv sets env for the rest of the test (t.Setenv).
func setenv(t testing.TB, env map[string]string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
}
