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

// minElidedRunes is the shortest word Fit replaces by "…": a registry host, an image
// reference, a secret name, never a word of the sentence.
const minElidedRunes = 40

// OneLine replaces control characters (newlines included) and invalid UTF-8 with spaces, so a
// text that carries an image, a name or a registry's words stays one line of output: a newline
// in it would forge a finding, a warning or a log line of its own.
func OneLine(s string) string {
	s = strings.ToValidUTF8(s, " ")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// Fit shortens a message to at most maxRunes runes without cutting a word: first the longest
// words but the first (an image reference can be 700 characters long) become "…", the first
// word (a field path) saying which image it is; then whole clauses go from the end (the fix first: a fix cut in the
// middle helps nobody), the first one always kept. Only a first clause still too long is cut,
// by Truncate.
func Fit(s string, maxRunes int) string {
	if utf8.RuneCountInString(s) <= maxRunes {
		return s
	}
	s = elideLongWords(s, maxRunes)
	for utf8.RuneCountInString(s) > maxRunes {
		i := strings.LastIndex(s, clauseSeparator)
		if i < 0 {
			break
		}
		s = s[:i]
	}
	return Truncate(s, maxRunes)
}

// elideLongWords replaces words after the first longer than minElidedRunes by "…", longest
// first, until s fits maxRunes. Punctuation closing a word stays, so that clauses stay apart.
func elideLongWords(s string, maxRunes int) string {
	words := strings.Split(s, " ")
	n := utf8.RuneCountInString(s)
	for n > maxRunes {
		longest, longestRunes := -1, minElidedRunes
		for i, w := range words[1:] {
			if r := utf8.RuneCountInString(w); r > longestRunes {
				i++
				longest, longestRunes = i, r
			}
		}
		if longest < 0 {
			break
		}
		w := words[longest]
		opening := w[:len(w)-len(strings.TrimLeft(w, `(["`))]
		closing := w[len(strings.TrimRight(w, `;,:.)]"`)):]
		words[longest] = opening + "…" + closing
		n -= longestRunes - utf8.RuneCountInString(words[longest])
	}
	return strings.Join(words, " ")
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
