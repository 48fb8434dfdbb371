package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// DefaultKubectlTimeout bounds one kubectl run when the caller's context has no earlier deadline.
const DefaultKubectlTimeout = 60 * time.Second

// Kubectl runs the real kubectl binary against the bed's API server.
type Kubectl struct {
	Binary     string
	Kubeconfig string
	// Home is kubectl's $HOME (its discovery cache lives there), kept apart from the user's.
	Home string
	// Timeout bounds each run (DefaultKubectlTimeout when zero).
	Timeout time.Duration
}

// KubectlResult is what one kubectl run printed.
type KubectlResult struct {
	Args   []string
	Stdout string
	Stderr string
	// Output is stdout and stderr interleaved as kubectl wrote them, as a terminal shows them.
	Output   string
	ExitCode int
	Duration time.Duration
}

// Run runs kubectl with args (and --kubeconfig), feeding it stdin when not nil. A non-zero exit
// is a result, not an error: tests assert on refusals. The error is for kubectl not running or
// not finishing within its timeout.
func (k *Kubectl) Run(ctx context.Context, stdin []byte, args ...string) (KubectlResult, error) {
	timeout := k.Timeout
	if timeout == 0 {
		timeout = DefaultKubectlTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	full := append([]string{"--kubeconfig", k.Kubeconfig}, args...)
	cmd := exec.CommandContext(ctx, k.Binary, full...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + k.Home}
	cmd.WaitDelay = 5 * time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	combined := &lockedBuffer{}
	cmd.Stdout = io.MultiWriter(&stdout, combined)
	cmd.Stderr = io.MultiWriter(&stderr, combined)
	start := time.Now()
	err := cmd.Run()
	res := KubectlResult{
		Args:     args,
		Stdout:   stdout.String(),
		Stderr:   stderr.String(),
		Output:   combined.String(),
		Duration: time.Since(start),
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("kubectl %s did not finish within %s: %w\n%s", strings.Join(args, " "), timeout, ctx.Err(), res.Output)
	}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
	case err != nil:
		return res, fmt.Errorf("running kubectl %s: %w", strings.Join(args, " "), err)
	}
	return res, nil
}

// Apply runs `kubectl apply -f -` with the manifest on stdin and any extra args.
func (k *Kubectl) Apply(ctx context.Context, manifest []byte, args ...string) (KubectlResult, error) {
	return k.Run(ctx, manifest, append([]string{"apply", "-f", "-"}, args...)...)
}

// lockedBuffer serialises the writes of kubectl's stdout and stderr copiers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
