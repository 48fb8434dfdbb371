package registry

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxWarningRunes is the longest warning the user is sure to see whole: the API server keeps at
// most 4096 runes of warnings per request and cuts each one to 256 runes once they are over.
const MaxWarningRunes = 256

// clauseSeparator joins the clauses of a message: a cause, what it means, what to do.
const clauseSeparator = "; "

// Fit shortens a message to at most maxRunes runes by dropping whole clauses from its end (the
// fix goes first, a fix cut in the middle helps nobody), always keeping the first one. Only a
// first clause too long on its own is cut, by Truncate.
func Fit(s string, maxRunes int) string {
	for utf8.RuneCountInString(s) > maxRunes {
		i := strings.LastIndex(s, clauseSeparator)
		if i < 0 {
			break
		}
		s = s[:i]
	}
	return Truncate(s, maxRunes)
}

// Truncate cuts s to at most maxRunes runes, "…" included, after the last whole word that fits,
// never inside a UTF-8 sequence. Only a text without a space within maxRunes is cut inside its
// first word.
func Truncate(s string, maxRunes int) string {
	if utf8.RuneCountInString(s) <= maxRunes {
		return s
	}
	if maxRunes < 1 {
		return ""
	}
	runes := []rune(s)
	kept := runes[:maxRunes-1]
	if !unicode.IsSpace(runes[maxRunes-1]) {
		if i := lastSpace(kept); i > 0 {
			kept = kept[:i]
		}
	}
	// "found in…", not "found in …" or "in;…".
	cut := strings.TrimRightFunc(string(kept), func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(";,:", r) })
	if cut == "" {
		cut = string(runes[:maxRunes-1])
	}
	return cut + "…"
}

func lastSpace(runes []rune) int {
	for i := len(runes) - 1; i >= 0; i-- {
		if unicode.IsSpace(runes[i]) {
			return i
		}
	}
	return -1
}
