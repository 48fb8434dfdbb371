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
	"net/netip"
	"net/url"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/pullguard/pullguard/pkg/registry/egress"
)

func httpErr(status int, method, rawURL string, codes ...transport.ErrorCode) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	te := &transport.Error{StatusCode: status, Request: &http.Request{Method: method, URL: u}}
	for _, c := range codes {
		te.Errors = append(te.Errors, transport.Diagnostic{Code: c})
	}
	return te
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	manifest := "https://reg.example.com/v2/team/app/manifests/v1"
	tests := map[string]struct {
		err          error
		class        Class
		definite     bool
		tokenService bool
		unknown      bool
		plainHTTP    bool
		host         string
	}{
		"manifest 401":                      {err: httpErr(401, "HEAD", manifest), class: ClassUnauthorized, definite: true},
		"token service 401":                 {err: httpErr(401, "GET", "https://auth.example.com/token?scope=x"), class: ClassCredentialsRejected, definite: true, tokenService: true},
		"manifest 403":                      {err: httpErr(403, "GET", manifest, transport.DeniedErrorCode), class: ClassForbidden, definite: true},
		"manifest 404":                      {err: httpErr(404, "GET", manifest, transport.ManifestUnknownErrorCode), class: ClassTagNotFound, definite: true},
		"404 on the ping":                   {err: httpErr(404, "GET", "https://reg.example.com/v2/"), class: ClassInvalidResponse},
		"404 at the token service":          {err: httpErr(404, "GET", "https://reg.example.com/token"), class: ClassInvalidResponse, tokenService: true},
		"429":                               {err: httpErr(429, "HEAD", manifest), class: ClassRateLimited},
		"TOOMANYREQUESTS code":              {err: httpErr(400, "GET", manifest, transport.TooManyRequestsErrorCode), class: ClassRateLimited},
		"503":                               {err: httpErr(503, "HEAD", manifest), class: ClassRegistryUnavailable},
		"400":                               {err: httpErr(400, "GET", manifest), class: ClassInvalidResponse},
		"response too large":                {err: &egress.ResponseTooLargeError{URL: manifest, Limit: 4 << 20, Kind: egress.KindManifest}, class: ClassInvalidResponse},
		"too many redirects":                {err: &url.Error{Op: "Get", URL: manifest, Err: &egress.TooManyRedirectsError{Limit: 3}}, class: ClassInvalidResponse},
		"blocked address":                   {err: &url.Error{Op: "Get", URL: manifest, Err: &egress.BlockedError{Host: "reg.example.com", Addr: netip.MustParseAddr("10.0.0.1"), Reason: egress.ReasonPrivate}}, class: ClassBlocked, host: "reg.example.com"},
		"plain HTTP refused":                {err: &egress.PlainHTTPError{Host: "reg.example.com"}, class: ClassBlocked, plainHTTP: true, host: "reg.example.com"},
		"https timeout beside http refusal": {err: errors.Join(&egress.PlainHTTPError{Host: "127.0.0.1:5000"}, context.DeadlineExceeded), class: ClassTimeout},
		"https 503 beside http refusal":     {err: errors.Join(httpErr(503, "GET", "https://127.0.0.1:5000/v2/"), &egress.PlainHTTPError{Host: "127.0.0.1:5000"}), class: ClassRegistryUnavailable},
		"unknown authority":                 {err: &url.Error{Op: "Get", URL: manifest, Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, class: ClassTLSFailure},
		"wrong host name":                   {err: &tls.CertificateVerificationError{Err: x509.HostnameError{Host: "reg.example.com", Certificate: &x509.Certificate{}}}, class: ClassTLSFailure, host: "reg.example.com"},
		"expired":                           {err: x509.CertificateInvalidError{Reason: x509.Expired}, class: ClassTLSFailure},
		"not TLS":                           {err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, class: ClassTLSFailure},
		"DNS":                               {err: &url.Error{Op: "Get", URL: manifest, Err: &net.DNSError{Name: "reg.example.com", Err: "no such host", IsNotFound: true}}, class: ClassDNSFailure, host: "reg.example.com"},
		"deadline":                          {err: fmt.Errorf("HEAD: %w", context.DeadlineExceeded), class: ClassTimeout},
		"network timeout":                   {err: &net.OpError{Op: "read", Err: timeoutErr{}}, class: ClassTimeout},
		"refused":                           {err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, class: ClassRegistryUnavailable},
		"reset":                             {err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}, class: ClassRegistryUnavailable},
		"closed":                            {err: &url.Error{Op: "Head", URL: manifest, Err: io.EOF}, class: ClassRegistryUnavailable},
		"cancelled":                         {err: context.Canceled, class: ClassTimeout},
		"malformed HEAD":                    {err: errors.New("HEAD: response did not include Docker-Content-Digest header"), class: ClassInvalidResponse, unknown: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := classify(tc.err)
			if f.class != tc.class || f.definite != tc.definite || f.tokenService != tc.tokenService || f.unknown != tc.unknown || f.plainHTTP != tc.plainHTTP {
				t.Errorf("classify = {class %s definite %v token %v unknown %v plainHTTP %v}, want {%s %v %v %v %v}",
					f.class, f.definite, f.tokenService, f.unknown, f.plainHTTP, tc.class, tc.definite, tc.tokenService, tc.unknown, tc.plainHTTP)
			}
			if tc.host != "" && f.host != tc.host {
				t.Errorf("host = %q, want %q", f.host, tc.host)
			}
		})
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
