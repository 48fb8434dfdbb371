package app

import (
	"errors"
	"io"
	stdlog "log"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
)

// controller-runtime's and klog's loggers are process globals, and controller-runtime binds its
// logger only once. The process therefore gets one logger, installed once, whose output (level,
// format, writer) each Main call re-targets: tests that run Main twice see each run's logs in that
// run's writer.
var (
	installLogger sync.Once
	currentCore   atomic.Pointer[zapcore.Core]
	// "v" carries the logr verbosity of info lines, as Kubernetes components' JSON logs do.
	processLogger = zapr.NewLoggerWithOptions(zap.New(switchCore{}, zap.AddCaller()), zapr.LogInfoLevel("v"))
)

// setLogOutput points the process logger at w with the given level and format, and returns it.
func setLogOutput(w io.Writer, level zapcore.Level, format string) logr.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	if format == "console" {
		encoder = zapcore.NewConsoleEncoder(enc)
	} else {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	// No sampling, unlike zap's production preset: decisions of a security control must not
	// vanish from the log because many look alike.
	core := zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(w)), zap.NewAtomicLevelAt(level))
	currentCore.Store(&core)
	installLogger.Do(func() {
		ctrl.SetLogger(processLogger)
		klog.SetLogger(processLogger)
		stdlog.SetFlags(0)
		stdlog.SetPrefix("")
		stdlog.SetOutput(stdlogWriter{log: processLogger.WithName("http")})
	})
	return processLogger
}

// switchCore forwards to the core currently stored in currentCore, applying the fields that
// were attached with With to it at write time.
type switchCore struct {
	fields []zapcore.Field
}

func (c switchCore) target() zapcore.Core {
	if p := currentCore.Load(); p != nil {
		return *p
	}
	return zapcore.NewNopCore()
}

func (c switchCore) Enabled(l zapcore.Level) bool { return c.target().Enabled(l) }

func (c switchCore) With(fields []zapcore.Field) zapcore.Core {
	return switchCore{fields: append(slices.Clip(c.fields), fields...)}
}

func (c switchCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	t := c.target()
	if !t.Enabled(e.Level) {
		return ce
	}
	return c.withFields(t).Check(e, ce)
}

func (c switchCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return c.withFields(c.target()).Write(e, fields)
}

func (c switchCore) withFields(t zapcore.Core) zapcore.Core {
	if len(c.fields) == 0 {
		return t
	}
	return t.With(c.fields)
}

func (c switchCore) Sync() error { return c.target().Sync() }

// stdlogWriter takes the lines of the standard library's log package into the structured log.
// Go's HTTP servers write their errors there when their ErrorLog is nil, and controller-runtime
// v0.25 builds the webhook, metrics and probe servers without a way to set it
// (pkg/internal/httpserver.New), so each would otherwise print raw text among the JSON lines.
//
// The text is net/http's own (server.go: "http: TLS handshake error from %s: %v"), the one place
// it is classified by string: no typed error reaches this far. A handshake the client gave up
// (EOF, a reset: TCP probes and load balancer health checks that connect and close) is noise,
// logged at debug, and so is a client without a certificate under --client-ca-file (the
// manager's own readiness check of the webhook server connects without one, every probe); any
// other failure (a client that speaks no TLS, a client certificate refused) says something about
// a caller, and is logged at info, both with the same keys.
type stdlogWriter struct{ log logr.Logger }

const tlsHandshakeErrorPrefix = "http: TLS handshake error from "

func (w stdlogWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	if rest, ok := strings.CutPrefix(line, tlsHandshakeErrorPrefix); ok {
		// The remote address holds colons (host:port, [v6]:port) but never ": ".
		if remote, reason, ok := strings.Cut(rest, ": "); ok {
			if clientGaveUp(reason) {
				w.log.V(1).Info("TLS handshake not completed by the client", "remoteAddr", remote, "reason", reason)
			} else {
				w.log.Info("TLS handshake failed", "remoteAddr", remote, "reason", reason)
			}
			return len(p), nil
		}
	}
	if strings.HasPrefix(line, "http: ") || strings.HasPrefix(line, "http2: ") {
		w.log.Error(errors.New(line), "HTTP server error")
		return len(p), nil
	}
	w.log.Info("Standard library log line", "line", line)
	return len(p), nil
}

func clientGaveUp(reason string) bool {
	return reason == "EOF" || strings.HasSuffix(reason, "connection reset by peer") ||
		reason == "tls: client didn't provide a certificate"
}
