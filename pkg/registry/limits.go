package registry

import (
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/pullguard/pullguard/pkg/config"
)

// Limits bound what one check may cost when a registry is hostile. They are settings like any
// other of Options: flags and config keys under "registry.limits" (Options.AddFlags), checked by
// Options.Validate.
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
	// MaxRequestsPerHost caps the round trips in flight to one registry host, and
	// MaxRequestsPerDomain those to all the hosts of one registrable domain (an IP literal, or
	// an IPv6 /64, is a domain of its own), shares of MaxConcurrentRequests, so that one slow or
	// hostile registry cannot hold every slot, however many host names it answers under.
	MaxRequestsPerHost   int
	MaxRequestsPerDomain int
	// ExchangeTimeout bounds one whole registry round trip, from dial to the body's last byte.
	ExchangeTimeout time.Duration
}

// DefaultLimits returns the defaults: 1000 index entries; 16 platforms and 16 keys in a
// message, 2048 runes per text and 32 notes; 16 requests per host and 32 per domain (a quarter
// and half of the global 64: a registry's token service and registry hosts both get slots
// while one of them is slow, and one domain leaves half the slots to all the others); 4 s per
// round trip.
func DefaultLimits() Limits {
	return Limits{MaxIndexChildren: 1000, MaxListedPlatforms: 16, MaxListedKeys: 16, MaxMessageRunes: 2048, MaxNotes: 32,
		MaxRequestsPerHost: 16, MaxRequestsPerDomain: 32, ExchangeTimeout: 4 * time.Second}
}

// addFlags binds each limit under "limits." of b's section.
func (l *Limits) addFlags(b config.Binder) {
	b.Int(&l.MaxIndexChildren, "max-index-children", "limits.maxIndexChildren",
		"Entries of an image index read. Past them a node platform not found is unverifiable, never a refusal.")
	b.Int(&l.MaxListedPlatforms, "max-listed-platforms", "limits.maxListedPlatforms", "Platforms one message lists.")
	b.Int(&l.MaxListedKeys, "max-listed-keys", "limits.maxListedKeys", "Keys of one pull secret one message lists.")
	b.Int(&l.MaxMessageRunes, "max-message-runes", "limits.maxMessageRunes", "Longest detail, fix or note of a verdict, in characters (at least 256).")
	b.Int(&l.MaxNotes, "max-notes", "limits.maxNotes", "Notes one verdict carries.")
	b.Int(&l.MaxRequestsPerHost, "max-requests-per-host", "limits.maxRequestsPerHost",
		"Registry round trips in flight to one host, a share of --max-requests-per-domain, so one slow registry cannot hold every slot.")
	b.Int(&l.MaxRequestsPerDomain, "max-requests-per-domain", "limits.maxRequestsPerDomain",
		"Registry round trips in flight to all the hosts of one registrable domain (an IP address, an IPv6 /64), a share of --registry-max-concurrent-requests, so one party cannot hold every slot under many host names.")
	b.Duration(&l.ExchangeTimeout, "registry-exchange-timeout", "limits.exchangeTimeout",
		"Longest whole registry round trip, from dial to the last byte of the body.")
}

// validate reports every invalid limit at its path under p ("registry.limits").
func (l Limits) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, n := range []struct {
		key      string
		v, least int
	}{
		{"maxIndexChildren", l.MaxIndexChildren, 1}, {"maxListedPlatforms", l.MaxListedPlatforms, 1},
		{"maxListedKeys", l.MaxListedKeys, 1}, {"maxMessageRunes", l.MaxMessageRunes, MaxWarningRunes},
		{"maxNotes", l.MaxNotes, 1}, {"maxRequestsPerHost", l.MaxRequestsPerHost, 1},
		{"maxRequestsPerDomain", l.MaxRequestsPerDomain, 1},
	} {
		if n.v < n.least {
			errs = append(errs, field.Invalid(p.Child(n.key), n.v, fmt.Sprintf("must be at least %d", n.least)))
		}
	}
	if l.MaxRequestsPerHost > l.MaxRequestsPerDomain {
		// A host is in one domain: the host's cap would never be reached.
		errs = append(errs, field.Invalid(p.Child("maxRequestsPerHost"), l.MaxRequestsPerHost,
			fmt.Sprintf("must not be more than maxRequestsPerDomain (%d)", l.MaxRequestsPerDomain)))
	}
	if l.ExchangeTimeout <= 0 {
		errs = append(errs, field.Invalid(p.Child("exchangeTimeout"), l.ExchangeTimeout.String(), "registry exchange timeout must be positive"))
	}
	return errs
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
