package registry

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// redacted replaces a credential in text copied out of a registry's answer.
const redacted = "[redacted]"

// minRedactLen is the shortest credential form that is searched for. A shorter one would match
// ordinary words of a message (a repository "team/app" for a password "app") and would take a
// guesser a few hundred tries anyway.
const minRedactLen = 4

// redactor removes from verdict text every credential the check sent, in the encodings a
// registry or token service may echo it in. A registry chooses its error bodies, error codes,
// headers and token responses, and the token service receives the password (as Basic auth): a
// hostile or careless one answers 400 "invalid password <password>", and go-containerregistry
// copies such bodies into its errors, which messages quote. Messages go into warnings, denials,
// audit annotations and logs that people who cannot read the secret see, so the verdict is
// scrubbed once, before it is cached or returned. The kubelet never sends identitytoken or
// registrytoken from a secret, so neither does the engine: the username's password and the
// auth string built from it are all a registry can learn.
//
// The replacer is built on first use: most verdicts (a pullable image) carry no text to scrub,
// and building it (every encoding of every credential) was a tenth of the allocations of a
// check with a pooled token.
type redactor struct{ replacer func() *strings.Replacer }

func newRedactor(creds []keyring.Credential) redactor {
	return redactor{replacer: sync.OnceValue(func() *strings.Replacer { return replacerFor(creds) })}
}

// replacerFor replaces every form of creds, nil when none is long enough to search for.
func replacerFor(creds []keyring.Credential) *strings.Replacer {
	var forms []string
	for _, c := range creds {
		if c.Anonymous() {
			continue
		}
		for _, s := range []string{c.Password, c.Username + ":" + c.Password} {
			forms = append(forms, encodings(s)...)
		}
	}
	forms = slices.DeleteFunc(forms, func(s string) bool { return len(s) < minRedactLen })
	if len(forms) == 0 {
		return nil
	}
	// Longest first: strings.Replacer tries its pairs in argument order at each position, so
	// an encoding that contains another is replaced whole.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	forms = slices.Compact(forms)
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, redacted)
	}
	return strings.NewReplacer(pairs...)
}

// encodings are the forms in which s travels or is quoted: as is, base64 (how Basic auth and
// a dockerconfigjson auth field carry it), URL-, JSON- and Go-escaped (how a body, a query or a
// %q in an error message reproduces it).
func encodings(s string) []string {
	b := []byte(s)
	forms := []string{
		s,
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		url.QueryEscape(s), url.PathEscape(s),
		strings.Trim(strconv.Quote(s), `"`),
	}
	if j, err := json.Marshal(s); err == nil {
		forms = append(forms, strings.Trim(string(j), `"`))
	}
	return forms
}

func (r redactor) string(s string) string {
	if s == "" || r.replacer == nil {
		return s
	}
	if rep := r.replacer(); rep != nil {
		return rep.Replace(s)
	}
	return s
}

// verdict scrubs the text fields of v that quote a registry (Platforms and Credential are the
// engine's own words).
func (r redactor) verdict(v Verdict) Verdict {
	if r.replacer == nil || (v.Detail == "" && v.Fix == "" && len(v.Notes) == 0) {
		return v
	}
	if r.replacer() == nil {
		return v
	}
	v.Detail, v.Fix = r.string(v.Detail), r.string(v.Fix)
	v.Notes = slices.Clone(v.Notes)
	for i, n := range v.Notes {
		v.Notes[i] = r.string(n)
	}
	return v
}
