package registry

import (
	"fmt"
	"slices"
	"time"
)

// Limits bound what one check may cost when a registry is hostile. A zero field takes its
// default (DefaultLimits); each is meant to be a flag of every program sharing the engine.
type Limits struct {
	// MaxIndexChildren is how many entries of an image index are read. A real index lists a
	// few dozen (platforms and attestations); 85,000 fit under the 4 MiB manifest cap. Past
	// the limit the rest is not read: a candidate platform found among the first entries is
	// pullable, one not found is Unverifiable, never NotPullable.
	MaxIndexChildren int
	// MaxListedPlatforms bounds the platforms a message lists ("available: …").
	MaxListedPlatforms int
	// MaxListedKeys bounds the keys of one pull secret a message lists, and the lines about
	// single keys (near misses): a 1 MiB secret holds 55,000 keys.
	MaxListedKeys int
	// MaxMessageRunes bounds each of a verdict's Detail, Fix and notes, and MaxNotes the notes.
	MaxMessageRunes int
	MaxNotes        int
	// MaxRequestsPerHost caps the round trips in flight to one registry host, a share of
	// MaxConcurrentRequests, so that one slow or hostile registry cannot hold every slot.
	MaxRequestsPerHost int
	// ExchangeTimeout bounds one whole registry round trip, from dial to the body's last byte.
	ExchangeTimeout time.Duration
}

// DefaultLimits returns the defaults: 1000 index entries; 16 platforms and 16 keys in a
// message, 2048 runes per text and 32 notes; 16 requests per host; 4 s per round trip.
func DefaultLimits() Limits {
	return Limits{MaxIndexChildren: 1000, MaxListedPlatforms: 16, MaxListedKeys: 16, MaxMessageRunes: 2048, MaxNotes: 32,
		MaxRequestsPerHost: 16, ExchangeTimeout: 4 * time.Second}
}

// withDefaults returns l with every zero field set to its default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxIndexChildren == 0 {
		l.MaxIndexChildren = d.MaxIndexChildren
	}
	if l.MaxListedPlatforms == 0 {
		l.MaxListedPlatforms = d.MaxListedPlatforms
	}
	if l.MaxListedKeys == 0 {
		l.MaxListedKeys = d.MaxListedKeys
	}
	if l.MaxMessageRunes == 0 {
		l.MaxMessageRunes = d.MaxMessageRunes
	}
	if l.MaxNotes == 0 {
		l.MaxNotes = d.MaxNotes
	}
	if l.MaxRequestsPerHost == 0 {
		l.MaxRequestsPerHost = d.MaxRequestsPerHost
	}
	if l.ExchangeTimeout == 0 {
		l.ExchangeTimeout = d.ExchangeTimeout
	}
	return l
}

// Validate reports the first invalid limit.
func (l Limits) Validate() error {
	switch {
	case l.MaxIndexChildren < 0:
		return fmt.Errorf("registry max index children must not be negative, got %d", l.MaxIndexChildren)
	case l.MaxListedPlatforms < 0 || l.MaxListedKeys < 0 || l.MaxNotes < 0:
		return fmt.Errorf("registry message limits must not be negative")
	case l.MaxRequestsPerHost < 0 || l.ExchangeTimeout < 0:
		return fmt.Errorf("registry max requests per host and exchange timeout must not be negative")
	case l.MaxMessageRunes != 0 && l.MaxMessageRunes < 256:
		return fmt.Errorf("registry max message runes must be at least 256, got %d", l.MaxMessageRunes)
	}
	return nil
}

// bound cuts each text of v to MaxMessageRunes and keeps at most MaxNotes notes, saying so. It
// runs after redaction, so that no cut leaves a part of a credential behind.
func (l Limits) bound(v Verdict) Verdict {
	v.Detail, v.Fix = Truncate(v.Detail, l.MaxMessageRunes), Truncate(v.Fix, l.MaxMessageRunes)
	v.Notes = slices.Clone(v.Notes)
	if len(v.Notes) > l.MaxNotes {
		more := len(v.Notes) - l.MaxNotes
		v.Notes = append(v.Notes[:l.MaxNotes:l.MaxNotes], fmt.Sprintf("%d more notes left out", more))
	}
	for i, n := range v.Notes {
		v.Notes[i] = Truncate(n, l.MaxMessageRunes)
	}
	return v
}

// listed joins at most max items for a message, saying how many were left out.
func listed(items []string, max int) string {
	if len(items) <= max {
		return joinComma(items)
	}
	return fmt.Sprintf("%s and %d more", joinComma(items[:max]), len(items)-max)
}
