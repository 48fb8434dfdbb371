package testbed

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
)

// BuildCLI builds cmd/pullguard from the module at root into dir and returns the binary's
// path, so that tests and the demo run the CLI as CI runs it: a process of its own, its exit
// status and output streams the process's. The build shares the Go build cache with the test
// binary that calls it, so it mostly links.
func (b *Bed) BuildCLI(ctx context.Context) (string, error) {
	out := filepath.Join(b.Dir, "bin", "pullguard")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/pullguard")
	cmd.Dir = b.Root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building cmd/pullguard: %w\n%s", err, msg)
	}
	return out, nil
}
