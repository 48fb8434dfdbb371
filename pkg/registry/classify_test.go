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

	v1 "github.com/google/go-containerregistry/pkg/v1"
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

func TestRetryable(t *testing.T) {
	get := &http.Request{Method: http.MethodGet}
	tests := map[string]struct {
		status int
		err    error
		want   bool
	}{
		"500":         {status: 500, want: true},
		"502":         {status: 502, want: true},
		"503":         {status: 503, want: true},
		"504":         {status: 504, want: true},
		"501":         {status: 501},
		"429":         {status: 429},
		"404":         {status: 404},
		"200":         {status: 200},
		"reset":       {err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}, want: true},
		"refused":     {err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}},
		"deadline":    {err: context.DeadlineExceeded},
		"DNS failure": {err: &net.DNSError{Name: "x", IsNotFound: true}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var resp *http.Response
			if tc.err == nil {
				resp = &http.Response{StatusCode: tc.status}
			}
			if got := retryable(get, resp, tc.err); got != tc.want {
				t.Errorf("retryable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMatchPlatforms(t *testing.T) {
	tests := map[string]struct {
		children  []string // "" is a child without a platform
		nodes     []string
		matched   []string
		available []string
	}{
		"exact":                        {children: []string{"linux/amd64", "linux/arm64"}, nodes: []string{"linux/amd64"}, matched: []string{"linux/amd64"}, available: []string{"linux/amd64", "linux/arm64"}},
		"amd64 runs 386":               {children: []string{"linux/386"}, nodes: []string{"linux/amd64"}, matched: []string{"linux/amd64"}, available: []string{"linux/386"}},
		"386 does not run amd64":       {children: []string{"linux/amd64"}, nodes: []string{"linux/386"}, available: []string{"linux/amd64"}},
		"arm64 runs arm/v7":            {children: []string{"linux/arm/v7"}, nodes: []string{"linux/arm64"}, matched: []string{"linux/arm64"}, available: []string{"linux/arm/v7"}},
		"arm64/v8 runs arm64":          {children: []string{"linux/arm64"}, nodes: []string{"linux/arm64/v8"}, matched: []string{"linux/arm64"}, available: []string{"linux/arm64"}},
		"amd64 does not run amd64/v3":  {children: []string{"linux/amd64/v3"}, nodes: []string{"linux/amd64"}, available: []string{"linux/amd64/v3"}},
		"child without platform":       {children: []string{""}, nodes: []string{"linux/s390x"}, matched: []string{"linux/s390x"}},
		"attestation never matches":    {children: []string{"unknown/unknown"}, nodes: []string{"linux/amd64"}},
		"windows child for linux node": {children: []string{"windows/amd64"}, nodes: []string{"linux/amd64"}, available: []string{"windows/amd64"}},
		// Windows builds, as containerd's Windows matcher decides (node versions from the
		// node.kubernetes.io/windows-build label, image versions from the index).
		"windows 2019 node runs a 2019 image": {children: []string{"windows/amd64:10.0.17763.6054", "windows/amd64:10.0.20348.2582"},
			nodes: []string{"windows/amd64:10.0.17763"}, matched: []string{"windows(10.0.17763)/amd64"},
			available: []string{"windows(10.0.17763.6054)/amd64", "windows(10.0.20348.2582)/amd64"}},
		"windows 2019 node does not run a 2022 image": {children: []string{"windows/amd64:10.0.20348.2582"},
			nodes: []string{"windows/amd64:10.0.17763"}, available: []string{"windows(10.0.20348.2582)/amd64"}},
		"windows 2022 node does not run a 2019 image": {children: []string{"windows/amd64:10.0.17763.6054"},
			nodes: []string{"windows/amd64:10.0.20348"}, available: []string{"windows(10.0.17763.6054)/amd64"}},
		"windows 2025 node runs a 2022 image": {children: []string{"windows/amd64:10.0.20348.2582"},
			nodes: []string{"windows/amd64:10.0.26100"}, matched: []string{"windows(10.0.26100)/amd64"},
			available: []string{"windows(10.0.20348.2582)/amd64"}},
		"windows image without a version": {children: []string{"windows/amd64"}, nodes: []string{"windows/amd64:10.0.17763"},
			matched: []string{"windows(10.0.17763)/amd64"}, available: []string{"windows/amd64"}},
		"windows node without a build label": {children: []string{"windows/amd64:10.0.20348.2582"}, nodes: []string{"windows/amd64"},
			matched: []string{"windows/amd64"}, available: []string{"windows(10.0.20348.2582)/amd64"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var children []*v1.Platform
			for _, c := range tc.children {
				if c == "" {
					children = append(children, nil)
					continue
				}
				children = append(children, plat(c))
			}
			pm := matchPlatforms(children, normalizePlatforms(ociPlats(tc.nodes...)))
			if got := formatPlatforms(pm.matched); fmt.Sprint(got) != fmt.Sprint(orEmpty(tc.matched)) {
				t.Errorf("matched = %v, want %v", got, tc.matched)
			}
			if fmt.Sprint(orEmpty(pm.available)) != fmt.Sprint(orEmpty(tc.available)) {
				t.Errorf("available = %v, want %v", pm.available, tc.available)
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

func TestNodeSelectorHint(t *testing.T) {
	tests := map[string]struct {
		matched, missing []string
		want             string
	}{
		"one arch":  {matched: []string{"linux/amd64"}, missing: []string{"linux/arm64"}, want: "add nodeSelector kubernetes.io/arch=amd64"},
		"two archs": {matched: []string{"linux/amd64", "linux/arm64"}, missing: []string{"linux/s390x"}, want: "add a required node affinity on kubernetes.io/arch in (amd64, arm64)"},
		"other OS":  {matched: []string{"linux/amd64"}, missing: []string{"windows/amd64"}, want: "add nodeSelector kubernetes.io/os=linux"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := nodeSelectorHint(ociPlats(tc.matched...), ociPlats(tc.missing...)); got != tc.want {
				t.Errorf("hint = %q, want %q", got, tc.want)
			}
		})
	}
}
