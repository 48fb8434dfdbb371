package registry

import "fmt"

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
}

// DefaultLimits returns the defaults: 1000 index entries, 16 platforms in a message.
func DefaultLimits() Limits {
	return Limits{MaxIndexChildren: 1000, MaxListedPlatforms: 16}
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
	return l
}

// Validate reports the first invalid limit.
func (l Limits) Validate() error {
	switch {
	case l.MaxIndexChildren < 0:
		return fmt.Errorf("registry max index children must not be negative, got %d", l.MaxIndexChildren)
	case l.MaxListedPlatforms < 0:
		return fmt.Errorf("registry max listed platforms must not be negative, got %d", l.MaxListedPlatforms)
	}
	return nil
}

// listed joins at most max items for a message, saying how many were left out.
func listed(items []string, max int) string {
	if len(items) <= max {
		return joinComma(items)
	}
	return fmt.Sprintf("%s and %d more", joinComma(items[:max]), len(items)-max)
}
