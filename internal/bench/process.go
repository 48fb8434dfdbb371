package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pullguard/pullguard/internal/testbed"
)

// WebhookProcess is the webhook binary serving in place of the bed's in-process webhook, so that
// its resident set can be measured on its own.
type WebhookProcess struct {
	cmd  *exec.Cmd
	done chan error
	log  string
}

// PID is the process's id.
func (p *WebhookProcess) PID() int { return p.cmd.Process.Pid }

// SwapInWebhookBinary stops the bed's in-process webhook and starts binary with exactly the
// arguments it ran with (same address, certificate, kubeconfig, registry trust) and env
// ("KEY=value", e.g. GOMEMLIMIT) added to a minimal environment, then waits
// until the API server calls it. Names the process resolves go to the machine's resolver, so
// only images on IP literals and localhost may be admitted while it serves.
func (c *Cluster) SwapInWebhookBinary(ctx context.Context, binary string, env ...string) (*WebhookProcess, error) {
	args := c.Bed.Webhook.Args
	health := c.Bed.Webhook.HealthAddr
	if err := c.Bed.StopWebhook(); err != nil {
		return nil, err
	}
	logPath := filepath.Join(c.Bed.Dir, "webhook-process.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating the webhook log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A minimal environment: no proxy settings or credentials from the caller leak into it.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	p := &WebhookProcess{cmd: cmd, done: make(chan error, 1), log: logPath}
	go func() { p.done <- cmd.Wait() }()
	if err := p.waitReady(ctx, health); err != nil {
		return nil, errors.Join(err, p.Stop())
	}
	if err := testbed.WaitForAdmission(ctx, c.Client, c.Enforce, c.Bed.Images.TypoTag); err != nil {
		return nil, errors.Join(err, p.Stop())
	}
	return p, nil
}

func (p *WebhookProcess) waitReady(ctx context.Context, health string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+health+"/readyz", nil)
		if err != nil {
			return fmt.Errorf("building the readiness request: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-p.done:
			return fmt.Errorf("the webhook binary exited during startup (%v); see %s", err, p.log)
		case <-ctx.Done():
			return fmt.Errorf("the webhook binary did not become ready: %w; see %s", ctx.Err(), p.log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM and waits for the process to exit (SIGKILL after 20 s).
func (p *WebhookProcess) Stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("the webhook binary did not stop within 20s of SIGTERM")
	}
}
