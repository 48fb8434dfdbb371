package registry

import (
	"strings"
	"testing"
	"time"
)

func TestNodeSelectorHint(t *testing.T) {
	tests := map[string]struct {
		matched, missing []string
		want             string
	}{
		"one arch":  {matched: []string{"linux/amd64"}, missing: []string{"linux/arm64"}, want: "add nodeSelector kubernetes.io/arch=amd64"},
		"two archs": {matched: []string{"linux/amd64", "linux/arm64"}, missing: []string{"linux/s390x"}, want: "add a required node affinity on kubernetes.io/arch in (amd64, arm64)"},
		"other OS":  {matched: []string{"linux/amd64"}, missing: []string{"windows/amd64"}, want: "add nodeSelector kubernetes.io/os=linux"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := nodeSelectorHint(ociPlats(tc.matched...), ociPlats(tc.missing...)); got != tc.want {
				t.Errorf("hint = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		header string
		want   time.Duration
		ok     bool
	}{
		"delay seconds":         {header: "60", want: time.Minute, ok: true},
		"zero":                  {header: "0", want: 0, ok: true},
		"an HTTP date ahead":    {header: "Thu, 03 Dec 2026 12:02:00 GMT", want: 2 * time.Minute, ok: true},
		"an HTTP date passed":   {header: "Thu, 03 Dec 2026 11:00:00 GMT", want: 0, ok: true},
		"empty":                 {header: ""},
		"negative":              {header: "-5"},
		"fraction":              {header: "1.5"},
		"beyond 32 bits":        {header: "99999999999"},
		"text":                  {header: "soon"},
		"overlong":              {header: strings.Repeat("9", 41)},
		"a date in ANSI C form": {header: "Thu Dec  3 12:01:00 2026", want: time.Minute, ok: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := parseRetryAfter(tc.header, now)
			if got != tc.want || ok != tc.ok {
				t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tc.header, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// FuzzParseRetryAfter: whatever a registry sends, the delay is never negative and nothing
// unparsed is accepted.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"60", "Thu, 03 Dec 2026 12:02:00 GMT", "", "-1", "1e9"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, header string) {
		d, ok := parseRetryAfter(header, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("parseRetryAfter(%q) = %s, %v", header, d, ok)
		}
	})
}
