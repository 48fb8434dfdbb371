package admission

import (
	"net/url"
	"testing"
	"time"
)

func TestRequestBudget(t *testing.T) {
	tests := map[string]struct {
		timeout string
		want    time.Duration
	}{
		"absent":                           {timeout: "", want: 8 * time.Second},
		"garbage":                          {timeout: "soon", want: 8 * time.Second},
		"negative":                         {timeout: "-3s", want: 8 * time.Second},
		"10s default webhook timeout":      {timeout: "10s", want: 8 * time.Second},
		"3s":                               {timeout: "3s", want: 2 * time.Second},
		"client-go fractional":             {timeout: "2.5s", want: 1500 * time.Millisecond},
		"margin larger than timeout":       {timeout: "1s", want: 500 * time.Millisecond},
		"1ns (found by FuzzRequestBudget)": {timeout: "1ns", want: time.Nanosecond},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := requestBudget(tc.timeout, 8*time.Second, time.Second); got != tc.want {
				t.Errorf("requestBudget(%q) = %s, want %s", tc.timeout, got, tc.want)
			}
		})
	}
}

// TestTimeoutParam holds the query scan to what url.Values.Get("timeout") reads of the queries
// an API server sends, and of some it does not.
func TestTimeoutParam(t *testing.T) {
	tests := map[string]string{
		"only":          "timeout=10s",
		"after another": "dryRun=All&timeout=2.5s",
		"first wins":    "timeout=3s&timeout=5s",
		"escaped":       "timeout=1%2E5s",
		"absent":        "dryRun=All",
		"empty":         "",
		"empty value":   "timeout=",
		"prefix only":   "timeouts=3s",
		"bad escape":    "timeout=%zz",
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			q, _ := url.ParseQuery(raw)
			if got, want := timeoutParam(raw), q.Get("timeout"); got != want {
				t.Errorf("timeoutParam(%q) = %q, url.Values says %q", raw, got, want)
			}
		})
	}
}
