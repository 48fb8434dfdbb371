package app

import (
	"io"
	"slices"
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
