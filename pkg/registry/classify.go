package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/pullguard/pullguard/pkg/registry/egress"
)

// failure is one probe error, classified by type only (never by matching error text).
type failure struct {
	class Class
	// definite failures (401, 403, 404, token service 401) belong to one credential: the kubelet
	// moves on to the next one. Every other failure is transient or environmental: the engine
	// stops there and the verdict is Unverifiable.
	definite bool
	// status is the HTTP status the registry or token service answered (0: none).
	status int
	// codes are the registry error codes of the body (empty for HEAD responses).
	codes []transport.ErrorCode
	// tokenService is set when the failing request went to the bearer token realm, not /v2/.
	tokenService bool
	// host is the host named by a DNS, TLS or network-guard error ("" when unknown).
	host string
	// cause is a short phrase for messages: "503 Service Unavailable", "connection refused", …
	cause string
	// unknown is set when no known error type matched: a malformed response such as a HEAD
	// without Docker-Content-Digest. Only such failures fall back from HEAD to GET.
	unknown bool
	// plainHTTP is set when the network guard refused plain HTTP.
	plainHTTP bool
	// mirror is the mirror that failed, when the failure is a mirror's (Options.Mirrors).
	mirror string
	err    error
}

func classify(err error) failure {
	f := failure{err: err}
	var (
		te        *transport.Error
		tooLarge  *egress.ResponseTooLargeError
		blocked   *egress.BlockedError
		plain     *egress.PlainHTTPError
		redirects *egress.TooManyRedirectsError
		dnsErr    *net.DNSError
	)
	tlsCause, isTLS := tlsFailure(err)
	switch {
	case errors.As(err, &te):
		return classifyHTTP(te)
	case errors.As(err, &tooLarge):
		f.class, f.cause = ClassInvalidResponse, tooLarge.Error()
	case errors.As(err, &blocked):
		f.class, f.host = ClassBlocked, blocked.Host
		f.cause = fmt.Sprintf("registry host %q resolves to %s, a %s address", blocked.Host, blocked.Addr, strings.ReplaceAll(blocked.Reason, "_", "-"))
	case errors.As(err, &redirects):
		f.class, f.cause = ClassInvalidResponse, redirects.Error()
	case isTLS:
		f.class, f.cause = ClassTLSFailure, tlsCause
		var he x509.HostnameError
		if errors.As(err, &he) {
			f.host = he.Host
		}
	case errors.As(err, &dnsErr):
		f.class, f.host, f.cause = ClassDNSFailure, dnsErr.Name, "name could not be resolved"
	case errors.Is(err, context.DeadlineExceeded) || isNetTimeout(err):
		f.class, f.cause = ClassTimeout, "no answer before the deadline"
	case errors.Is(err, syscall.ECONNREFUSED):
		f.class, f.cause = ClassRegistryUnavailable, "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		f.class, f.cause = ClassRegistryUnavailable, "connection reset"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		f.class, f.cause = ClassRegistryUnavailable, "connection closed without a response"
	// Checked after everything else: go-containerregistry pings loopback and private hosts over
	// https and http in parallel, so a refused plain-HTTP fallback accompanies the real error.
	case errors.As(err, &plain):
		f.class, f.host, f.plainHTTP = ClassBlocked, plain.Host, true
		f.cause = fmt.Sprintf("registry host %q would need plain HTTP, which is refused", plain.Host)
	case errors.Is(err, context.Canceled):
		f.class, f.cause = ClassTimeout, "check cancelled"
	default:
		f.class, f.cause, f.unknown = ClassInvalidResponse, "malformed response", true
	}
	return f
}

func classifyHTTP(te *transport.Error) failure {
	f := failure{err: te, status: te.StatusCode, cause: statusText(te.StatusCode)}
	for _, d := range te.Errors {
		f.codes = append(f.codes, d.Code)
	}
	if te.Request != nil {
		p := te.Request.URL.Path
		f.tokenService = !strings.HasPrefix(p, "/v2/") && p != "/v2"
	}
	switch {
	case te.StatusCode == http.StatusTooManyRequests || f.hasCode(transport.TooManyRequestsErrorCode):
		f.class = ClassRateLimited
	case te.StatusCode >= 500:
		f.class = ClassRegistryUnavailable
	case te.StatusCode == http.StatusUnauthorized:
		f.class, f.definite = ClassUnauthorized, true
		if f.tokenService {
			f.class = ClassCredentialsRejected
		}
	case te.StatusCode == http.StatusForbidden:
		f.class, f.definite = ClassForbidden, true
	case te.StatusCode == http.StatusNotFound && !f.tokenService && te.Request != nil && te.Request.URL.Path != "/v2/":
		// The class (tag, digest or repository) is settled by diagnose.
		f.class, f.definite = ClassTagNotFound, true
	default:
		// 404 on the ping or at the token service, 400, 405…: not the registry API we expect.
		f.class = ClassInvalidResponse
	}
	return f
}

func (f failure) hasCode(code transport.ErrorCode) bool {
	for _, c := range f.codes {
		if c == code {
			return true
		}
	}
	return false
}

func (f failure) notFound() bool { return f.definite && f.status == http.StatusNotFound }

// statusWithCodes is "404 MANIFEST_UNKNOWN" or "401 Unauthorized" for messages.
func (f failure) statusWithCodes() string {
	if len(f.codes) == 0 {
		return f.cause
	}
	// The codes are the registry's words: only a few well-formed ones are repeated.
	var codes []string
	for _, c := range f.codes {
		if len(codes) == maxCodes {
			codes = append(codes, "…")
			break
		}
		if errorCode.MatchString(string(c)) {
			codes = append(codes, string(c))
		}
	}
	if len(codes) == 0 {
		return f.cause
	}
	return fmt.Sprintf("%d %s", f.status, strings.Join(codes, ", "))
}

// Registry error codes are short upper-case words (MANIFEST_UNKNOWN, TOOMANYREQUESTS); a
// registry may send any number of anything.
const maxCodes = 3

var errorCode = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,39}$`)

func statusText(code int) string {
	return fmt.Sprintf("%d %s", code, http.StatusText(code))
}

// tlsFailure names a TLS failure in the words of the x509 package, without the certificate;
// ok is false when err is no TLS failure.
func tlsFailure(err error) (cause string, ok bool) {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		recordHeader     tls.RecordHeaderError
		verification     *tls.CertificateVerificationError
		alert            tls.AlertError
	)
	switch {
	case errors.As(err, &unknownAuthority):
		return "certificate signed by unknown authority", true
	case errors.As(err, &hostname):
		return fmt.Sprintf("certificate is not valid for %s", hostname.Host), true
	case errors.As(err, &invalid):
		return "certificate is expired, not yet valid or not usable for a server", true
	case errors.As(err, &recordHeader):
		return "the server did not answer with TLS", true
	case errors.As(err, &verification) || errors.As(err, &alert):
		return "TLS handshake failed", true
	}
	return "", false
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
