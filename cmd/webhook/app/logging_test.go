package app

import (
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// TestStandardLogLinesAreStructured: what net/http prints through the standard logger comes out
// as structured lines with stable keys, TLS handshakes the client gave up at debug only.
func TestStandardLogLinesAreStructured(t *testing.T) {
	tests := map[string]struct {
		line  string
		level zapcore.Level
		want  []string // in the output; nil: nothing logged
	}{
		"probe EOF at debug": {
			line: "http: TLS handshake error from 10.0.0.7:51234: EOF\n", level: zapcore.DebugLevel,
			want: []string{`"msg":"TLS handshake not completed by the client"`, `"remoteAddr":"10.0.0.7:51234"`, `"reason":"EOF"`, `"v":1`, `"logger":"http"`},
		},
		"probe EOF hidden at info": {line: "http: TLS handshake error from 10.0.0.7:51234: EOF\n", level: zapcore.InfoLevel},
		"reset hidden at info": {
			line: "http: TLS handshake error from [fd00::1]:443: read tcp [fd00::2]:9443->[fd00::1]:443: read: connection reset by peer\n", level: zapcore.InfoLevel,
		},
		"no client certificate hidden at info": {
			line: "http: TLS handshake error from 127.0.0.1:40000: tls: client didn't provide a certificate\n", level: zapcore.InfoLevel,
		},
		"refused client certificate at info": {
			line: "http: TLS handshake error from [::1]:40000: tls: failed to verify certificate: x509: certificate signed by unknown authority\n", level: zapcore.InfoLevel,
			want: []string{`"msg":"TLS handshake failed"`, `"remoteAddr":"[::1]:40000"`, `"reason":"tls: failed to verify certificate: x509: certificate signed by unknown authority"`},
		},
		"other server error": {
			line: "http: panic serving 10.0.0.7:1: boom\n", level: zapcore.InfoLevel,
			want: []string{`"level":"error"`, `"msg":"HTTP server error"`, `"error":"http: panic serving 10.0.0.7:1: boom"`},
		},
		"anything else": {
			line: "some library says hello\n", level: zapcore.InfoLevel,
			want: []string{`"msg":"Standard library log line"`, `"line":"some library says hello"`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out syncBuffer
			w := stdlogWriter{log: setLogOutput(&out, tc.level, "json").WithName("http")}
			if n, err := w.Write([]byte(tc.line)); n != len(tc.line) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			got := out.String()
			if tc.want == nil && got != "" {
				t.Errorf("logged %q, want nothing", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("log %q lacks %s", got, w)
				}
			}
		})
	}
}

// TestWebhookServerHandshakeErrorsAreStructured: the real lines of the webhook server's
// http.Server (a TCP probe that closes, a client that speaks no TLS) reach the structured log,
// and no raw "http: TLS handshake error" line is printed.
func TestWebhookServerHandshakeErrorsAreStructured(t *testing.T) {
	var logs syncBuffer
	setLogOutput(&logs, zapcore.DebugLevel, "json")
	addr, _ := startWebhookServer(t, DefaultOptions())

	probe, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	garbage, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = garbage.Write([]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"))
	_ = garbage.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = garbage.Read(make([]byte, 64)) // until the server hangs up
	garbage.Close()

	want := []string{`"msg":"TLS handshake not completed by the client"`, `"reason":"EOF"`, `"msg":"TLS handshake failed"`, `"remoteAddr":"127.0.0.1:`}
	deadline := time.Now().Add(10 * time.Second)
	for !containsAll(logs.String(), want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := logs.String()
	if !containsAll(got, want) {
		t.Errorf("logs lack %q:\n%s", want, got)
	}
	if strings.Contains(got, "http: TLS handshake error") {
		t.Errorf("a raw net/http line was logged:\n%s", got)
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
