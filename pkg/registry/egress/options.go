package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Options configures outbound connections to registries and token services.
type Options struct {
	// AllowPrivate lists hosts (exact names, optionally with :port) and CIDRs exempt from the
	// network guard, e.g. an in-cluster Harbor. Empty: every non-public address is refused.
	AllowPrivate []string
	// InsecureRegistries lists registry hosts (host or host:port) that may be reached over plain
	// HTTP. Every other host is HTTPS only, whatever go-containerregistry would guess.
	InsecureRegistries []string
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string
	// Proxy is an explicit proxy URL (http://host:port or https://host:port) for every request.
	// The environment's proxy settings are never used. The proxy's own address is guarded like
	// any destination, so an internal proxy needs an AllowPrivate entry.
	Proxy string

	DialTimeout           time.Duration
	TLSHandshakeTimeout   time.Duration
	ResponseHeaderTimeout time.Duration

	// Response caps: a body larger than its cap is an error, never truncated.
	MaxManifestBytes int64
	MaxTokenBytes    int64
	MaxErrorBytes    int64
	// MaxRedirects bounds the redirects followed for one request.
	MaxRedirects int

	// Dial replaces the final TCP dial (tests inject one that records and refuses non-loopback
	// destinations). It receives an IP literal address that already passed the guard.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Resolver replaces DNS resolution (tests inject failures; nil: the system resolver).
	Resolver Resolver
}

// Resolver resolves a host name to addresses; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DefaultOptions returns safe defaults: no private hosts, HTTPS only, ~2 s network timeouts,
// 4 MiB manifests, 1 MiB tokens, 64 KiB error bodies, 3 redirects.
func DefaultOptions() Options {
	return Options{
		DialTimeout:           2 * time.Second,
		TLSHandshakeTimeout:   2 * time.Second,
		ResponseHeaderTimeout: 2 * time.Second,
		MaxManifestBytes:      4 << 20,
		MaxTokenBytes:         1 << 20,
		MaxErrorBytes:         64 << 10,
		MaxRedirects:          3,
	}
}

// Validate reports every invalid option (see ValidateFields) as one error.
func (o Options) Validate() error { return o.ValidateFields(nil).ToAggregate() }

// maxManifestBytesLimit is go-containerregistry's own manifest limit; larger is never useful.
const maxManifestBytesLimit = 100 << 20

// ValidateFields reports every invalid option, each at its key under fldPath as a config file
// spells it (registry.Options embeds these in its section): "timeout" for the three timeouts,
// "allowPrivateRegistries", "insecureRegistries", "proxy", "maxManifestBytes".
func (o Options) ValidateFields(fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if o.DialTimeout <= 0 || o.TLSHandshakeTimeout <= 0 || o.ResponseHeaderTimeout <= 0 {
		errs = append(errs, field.Invalid(fldPath.Child("timeout"), min(o.DialTimeout, o.TLSHandshakeTimeout, o.ResponseHeaderTimeout).String(),
			"egress timeouts must be positive"))
	}
	for _, c := range []struct {
		name string
		v    int64
	}{{"maxManifestBytes", o.MaxManifestBytes}, {"maxTokenBytes", o.MaxTokenBytes}, {"maxErrorBytes", o.MaxErrorBytes}} {
		if c.v <= 0 {
			errs = append(errs, field.Invalid(fldPath.Child(c.name), c.v, "egress response caps must be positive"))
		}
	}
	if o.MaxManifestBytes > maxManifestBytesLimit {
		errs = append(errs, field.Invalid(fldPath.Child("maxManifestBytes"), o.MaxManifestBytes, fmt.Sprintf("must be at most %d", maxManifestBytesLimit)))
	}
	if o.MaxRedirects < 0 || o.MaxRedirects > 10 {
		errs = append(errs, field.Invalid(fldPath.Child("maxRedirects"), o.MaxRedirects, "egress max redirects must be 0-10"))
	}
	for i, a := range o.AllowPrivate {
		p := fldPath.Child("allowPrivateRegistries").Index(i)
		if a == "" {
			errs = append(errs, field.Required(p, "empty entry in the private registry allowlist"))
		} else if _, err := netip.ParsePrefix(a); err != nil && !validHost(a) {
			errs = append(errs, field.Invalid(p, a, "neither a CIDR nor a host[:port]"))
		}
	}
	for i, h := range o.InsecureRegistries {
		if !validHost(h) {
			errs = append(errs, field.Invalid(fldPath.Child("insecureRegistries").Index(i), h, "insecure registry is not a host[:port]"))
		}
	}
	if o.Proxy != "" {
		if _, err := parseProxy(o.Proxy); err != nil {
			// The value may hold proxy credentials: parseProxy's error names it redacted.
			errs = append(errs, field.Invalid(fldPath.Child("proxy"), field.OmitValueType{}, err.Error()))
		}
	}
	return errs
}

// validHost reports whether s is a host[:port] as written in a registry reference: a DNS name
// (letters, digits, inner hyphens, dot-separated labels), an IPv4 literal, or an IPv6 literal
// (bare, or in brackets when it carries a port).
func validHost(s string) bool {
	_, _, err := splitHostPort(s)
	return err == nil
}

// parseProxy parses an explicit proxy URL. Only http and https proxies are accepted: both
// tunnel HTTPS with CONNECT, which keeps TLS verification end to end with the registry.
func parseProxy(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse echoes the input, which may hold proxy credentials.
		return nil, errors.New("egress proxy is not a valid URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("egress proxy %q must be http(s)://host[:port]", redactURL(u))
	}
	if _, _, err := splitHostPort(u.Host); err != nil {
		return nil, fmt.Errorf("egress proxy %q: %w", redactURL(u), err)
	}
	return u, nil
}
