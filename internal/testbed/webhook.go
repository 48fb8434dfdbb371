package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/pullguard/pullguard/certs/selfca"
	"github.com/pullguard/pullguard/cmd/webhook/app"
)

// WebhookOptions configures StartWebhook.
type WebhookOptions struct {
	// Args are the flags a user would pass; the bed takes them from the shipped Deployment and
	// appends its local ones (addresses, kubeconfig, cert dir, registry trust).
	Args []string
	// Dir holds the serving certificate (cert-dir) and the log.
	Dir string
	// Serving is the serving certificate, valid for 127.0.0.1 (NewServingCertificate); nil: a
	// fresh one.
	Serving *selfca.Bundle
}

// NewServingCertificate makes a CA and a serving certificate for the webhook on 127.0.0.1.
func NewServingCertificate() (*selfca.Bundle, error) {
	bundle, err := selfca.Generate([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, 24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("generating the webhook serving certificate: %w", err)
	}
	return bundle, nil
}

// Webhook is the webhook running in this process through app.Main, the binary's code path.
type Webhook struct {
	// Addr is the HTTPS address (127.0.0.1:port) the API server calls.
	Addr string
	// CABundle is the PEM CA of the serving certificate, for clientConfig.caBundle.
	CABundle []byte
	*InProcess
}

// InProcess is a command of the webhook binary (the webhook, `webhook reverify`) running in this
// process through app.Main.
type InProcess struct {
	// Name says which command it is, in errors.
	Name string
	// HealthAddr serves /healthz and /readyz; MetricsAddr serves /metrics over HTTPS to
	// MetricsToken's bearer.
	HealthAddr   string
	MetricsAddr  string
	MetricsToken string
	// Args are the flags app.Main got.
	Args    []string
	LogPath string

	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// webhookGrace is the graceful shutdown the bed asks for: longer than the longest admission (the
// API server's limit is timeoutSeconds, at most 30s, and the shipped one is 10s), so in-flight
// admissions end on their own; webhookStopTimeout bounds Stop beyond it.
const (
	webhookGrace       = 12 * time.Second
	webhookStopTimeout = webhookGrace + 10*time.Second
)

// StartWebhook writes its serving certificate (opts.Serving or a fresh one), starts app.Main with
// opts.Args plus the local flags, and waits for /readyz.
func StartWebhook(ctx context.Context, opts WebhookOptions) (*Webhook, error) {
	certDir := opts.Dir + "/serving-certs"
	bundle, err := opts.Serving, error(nil)
	if bundle == nil {
		if bundle, err = NewServingCertificate(); err != nil {
			return nil, err
		}
	}
	if err := bundle.WriteDir(certDir); err != nil {
		return nil, fmt.Errorf("writing the webhook serving certificate: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	w := &Webhook{Addr: loopbackAddr(port), CABundle: bundle.CACert}
	args := append(append([]string{}, opts.Args...),
		"--bind-address=127.0.0.1",
		"--port="+strconv.Itoa(port),
		"--cert-dir="+certDir,
		"--graceful-shutdown-timeout="+webhookGrace.String(),
	)
	if w.InProcess, err = startInProcess(ctx, "webhook", args, opts.Dir+"/webhook.log"); err != nil {
		return nil, err
	}
	return w, nil
}

// startInProcess runs app.Main with args plus loopback health and metrics addresses, logging to
// logPath, and waits for /readyz.
func startInProcess(ctx context.Context, name string, args []string, logPath string) (*InProcess, error) {
	health, err := FreePort()
	if err != nil {
		return nil, err
	}
	metrics, err := FreePort()
	if err != nil {
		return nil, err
	}
	p := &InProcess{
		Name:        name,
		HealthAddr:  loopbackAddr(health),
		MetricsAddr: loopbackAddr(metrics),
		LogPath:     logPath,
		done:        make(chan struct{}),
	}
	p.Args = append(append([]string{}, args...),
		"--health-probe-bind-address="+p.HealthAddr,
		"--metrics-bind-address="+p.MetricsAddr,
	)
	f, err := os.Create(p.LogPath)
	if err != nil {
		return nil, fmt.Errorf("creating the %s log: %w", name, err)
	}
	// app.Main installs its logger process-wide, so goroutines it leaves behind may still log
	// after it returns: those lines are dropped instead of failing on a closed file. The last
	// Main started gets every line of the process from then on.
	logFile := &closableWriter{f: f}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	go func() {
		defer close(p.done)
		defer logFile.Close()
		p.err = app.Main(runCtx, p.Args, logFile, logFile)
	}()
	if err := p.waitReady(ctx); err != nil {
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

func (w *InProcess) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer c.CloseIdleConnections()
	for {
		select {
		case <-w.done:
			return fmt.Errorf("the %s exited during startup: %v; log: %s", w.Name, w.err, fileTail(w.LogPath, 4096))
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+w.HealthAddr+"/readyz", nil)
		if err != nil {
			return fmt.Errorf("building the readiness request: %w", err)
		}
		if resp, err := c.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			// The manager starts the metrics server as a runnable of its own, so /readyz can
			// answer before the metrics port listens: tests that scrape right after a start
			// would race it.
			if resp.StatusCode == http.StatusOK && listening(ctx, w.MetricsAddr) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the %s did not become ready: %w; log: %s", w.Name, ctx.Err(), fileTail(w.LogPath, 4096))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// listening reports whether addr accepts TCP connections.
func listening(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Stop cancels app.Main's context and waits for it to return.
func (w *InProcess) Stop() error {
	w.cancel()
	select {
	case <-w.done:
	case <-time.After(webhookStopTimeout):
		return fmt.Errorf("the %s did not stop within %s", w.Name, webhookStopTimeout)
	}
	if w.err != nil && !errors.Is(w.err, context.Canceled) {
		return fmt.Errorf("the %s failed: %w", w.Name, w.err)
	}
	return nil
}

// Stopped reports whether app.Main has returned.
func (w *InProcess) Stopped() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// closableWriter drops writes after Close.
type closableWriter struct {
	mu     sync.Mutex
	f      *os.File
	closed bool
}

func (c *closableWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return len(p), nil
	}
	return c.f.Write(p)
}

func (c *closableWriter) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return c.f.Close()
}
