package registry

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	tests := map[string]struct {
		s    string
		max  int
		want string
	}{
		"fits":                                {s: "tag not found", max: 13, want: "tag not found"},
		"cut after the last whole word":       {s: "tag not found in reg.example.com/team/app", max: 20, want: "tag not found in…"},
		"cut at a space":                      {s: "tag not found in reg", max: 14, want: "tag not found…"},
		"separator before the cut is dropped": {s: "tag not found; use a tag", max: 17, want: "tag not found…"},
		"multi-byte runes are counted and never split": {s: "étiquette « 1.O » introuvable", max: 20, want: "étiquette « 1.O »…"},
		"one long word is cut at a rune boundary":      {s: strings.Repeat("é", 30), max: 10, want: strings.Repeat("é", 9) + "…"},
		"no room": {s: "abc", max: 0, want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Truncate(tc.s, tc.max)
			if got != tc.want {
				t.Errorf("Truncate(%q, %d) = %q, want %q", tc.s, tc.max, got, tc.want)
			}
			if !utf8.ValidString(got) || utf8.RuneCountInString(got) > tc.max {
				t.Errorf("Truncate(%q, %d) = %q: invalid UTF-8 or longer than %d runes", tc.s, tc.max, got, tc.max)
			}
		})
	}
}

func TestFit(t *testing.T) {
	tests := map[string]struct {
		s    string
		max  int
		want string
	}{
		"fits":                    {s: "tag not found; use another tag", max: 40, want: "tag not found; use another tag"},
		"the fix is dropped":      {s: "tag not found; use another tag", max: 20, want: "tag not found"},
		"clauses go from the end": {s: "a cause; what it means; what to do", max: 25, want: "a cause; what it means"},
		"a long first clause is cut after a word": {s: "tag not found in a repository; fix", max: 20, want: "tag not found in a…"},
		"long words go before clauses": {
			s:    "tag not found in " + strings.Repeat("r", 50) + "/app; use a tag of " + strings.Repeat("r", 45) + ";",
			max:  40,
			want: "tag not found in …; use a tag of …;",
		},
		"short words are never elided": {s: "tag not found in " + strings.Repeat("r", 40) + " (404); use a tag", max: 30, want: "tag not found in…"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Fit(tc.s, tc.max); got != tc.want {
				t.Errorf("Fit(%q, %d) = %q, want %q", tc.s, tc.max, got, tc.want)
			}
		})
	}
}
