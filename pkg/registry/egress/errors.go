package egress

import (
	"fmt"
	"net/netip"
	"net/url"
)

// Response kinds of ResponseTooLargeError, chosen from the original request of a redirect chain.
const (
	// KindManifest is GET /v2/<name>/manifests/<ref>.
	KindManifest = "manifest"
	// KindRegistry is any other /v2/ registry API response (ping, tags, blobs); it shares the
	// manifest cap.
	KindRegistry = "registry"
	// KindToken is any request outside /v2/: the bearer token realm.
	KindToken = "token"
	// KindError is any response with status 400 or above.
	KindError = "error"
)

// BlockedError is a connection refused because its destination address is not public and is
// not opened by AllowPrivate.
type BlockedError struct {
	// Host is the host name (or IP literal) being connected to.
	Host string
	// Addr is the refused address Host resolved to (Host itself for a literal).
	Addr netip.Addr
	// Reason is one of the Reason constants naming the address class.
	Reason string
	// cidrOnly is set when a name entry in AllowPrivate cannot open this address, so the fix
	// the message suggests is a CIDR entry.
	cidrOnly bool
}

func (e *BlockedError) Error() string {
	what := fmt.Sprintf("registry host %q resolves to %s (%s)", e.Host, e.Addr, reasonText[e.Reason])
	if literal, err := netip.ParseAddr(e.Host); err == nil && literal == e.Addr {
		what = fmt.Sprintf("registry host %s is not a public address (%s)", e.Addr, reasonText[e.Reason])
	}
	if e.cidrOnly {
		return fmt.Sprintf("%s; add %s to --allow-private-registries to allow it", what, netip.PrefixFrom(e.Addr, e.Addr.BitLen()))
	}
	return what + "; add it to --allow-private-registries to allow it"
}

// PlainHTTPError is a plain-HTTP request (first request, redirect or token realm) to a host not
// listed in InsecureRegistries.
type PlainHTTPError struct {
	// Host is the request's host[:port].
	Host string
	// Downgrade is set when an HTTPS request was redirected to plain HTTP.
	Downgrade bool
}

func (e *PlainHTTPError) Error() string {
	via := ""
	if e.Downgrade {
		via = " (redirected from HTTPS)"
	}
	return fmt.Sprintf("plain HTTP to registry host %q refused%s; add it to --insecure-registries to allow it", e.Host, via)
}

// TooManyRedirectsError is a redirect chain longer than MaxRedirects.
type TooManyRedirectsError struct {
	Limit int
}

func (e *TooManyRedirectsError) Error() string {
	return fmt.Sprintf("registry request stopped after %d redirects", e.Limit)
}

// ResponseTooLargeError is a response body over its cap. It is returned by RoundTrip when
// Content-Length already exceeds the cap, and by the body's Read once the cap is passed, so a
// body is never silently truncated.
type ResponseTooLargeError struct {
	// URL is the request URL without credentials or query.
	URL string
	// Limit is the cap in bytes.
	Limit int64
	// Kind is one of the Kind constants.
	Kind string
	// StatusCode is the response status, kept because the error replaces the response.
	StatusCode int
}

func (e *ResponseTooLargeError) Error() string {
	if e.Kind == KindError {
		return fmt.Sprintf("error response (HTTP %d) from %s is larger than the %s limit", e.StatusCode, e.URL, formatBytes(e.Limit))
	}
	return fmt.Sprintf("%s response from %s is larger than the %s limit", e.Kind, e.URL, formatBytes(e.Limit))
}

// redactURL drops what may carry credentials (userinfo, query, fragment): token realms get
// secrets in the query and proxies in the userinfo.
func redactURL(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
