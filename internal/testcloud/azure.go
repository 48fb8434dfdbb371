package testcloud

import (
	"cmp"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Azure is a loopback Microsoft Entra authority (OpenID configuration and the token endpoint a
// workload identity's federated token is exchanged at) that the real azidentity reaches
// through AZURE_AUTHORITY_HOST, and the ACR side of the exchange (POST /oauth2/exchange), to be
// served on a registry host in front of a registry (Exchange).
type Azure struct {
	// Server is the authority, on TLS as Entra requires; Roots trusts it.
	Server *httptest.Server
	Roots  *x509.CertPool
	// AADToken is the Entra access token handed out; RefreshToken is the ACR refresh token the
	// exchange gives for it (a JWT whose exp is three hours after NewAzure), the registry's
	// password for user 00000000-0000-0000-0000-000000000000.
	AADToken, RefreshToken string
	// AADStatus and ExchangeStatus, when set, are the answers of the token endpoint and of the
	// exchange (e.g. 400/401: the identity refused).
	AADStatus, ExchangeStatus atomic.Int32
	// AADCalls and ExchangeCalls count the tokens handed out.
	AADCalls, ExchangeCalls atomic.Int32
}

const (
	azureTenant   = "11111111-1111-1111-1111-111111111111"
	azureClientID = "22222222-2222-2222-2222-222222222222"
)

// NewAzure starts the authority and points this test's workload identity at it (t.Setenv:
// AZURE_AUTHORITY_HOST, AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE), with no
// other Azure credential in the environment.
func NewAzure(t testing.TB) *Azure {
	t.Helper()
	payload := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"exp":%d,"grant_type":"refresh_token"}`, time.Now().Add(3*time.Hour).Unix()))
	f := &Azure{AADToken: "entra-access-token", RefreshToken: "eyJhbGciOiJub25lIn0." + payload + ".c2ln"}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(f.serveAuthority))
	t.Cleanup(f.Server.Close)
	f.Roots = x509.NewCertPool()
	f.Roots.AddCert(f.Server.Certificate())
	dir := t.TempDir()
	setenv(t, map[string]string{
		"AZURE_AUTHORITY_HOST":          f.Server.URL + "/",
		"AZURE_TENANT_ID":               azureTenant,
		"AZURE_CLIENT_ID":               azureClientID,
		"AZURE_FEDERATED_TOKEN_FILE":    projectedTokenFile(t, dir),
		"AZURE_CLIENT_SECRET":           "",
		"AZURE_CLIENT_CERTIFICATE_PATH": "",
		"AZURE_USERNAME":                "",
		"HOME":                          dir,
	})
	return f
}

func (f *Azure) serveAuthority(w http.ResponseWriter, r *http.Request) {
	base := f.Server.URL + "/" + azureTenant
	switch r.URL.Path {
	case "/" + azureTenant + "/v2.0/.well-known/openid-configuration":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"token_endpoint":         base + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"issuer":                 base + "/v2.0",
		})
	case "/" + azureTenant + "/oauth2/v2.0/token":
		_ = r.ParseForm()
		if r.Form.Get("client_assertion") != projectedToken || r.Form.Get("client_id") != azureClientID ||
			r.Form.Get("grant_type") != "client_credentials" || !strings.Contains(r.Form.Get("scope"), "https://containerregistry.azure.net/.default") {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if s := f.AADStatus.Load(); s != 0 {
			w.WriteHeader(int(s))
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS700213: No matching federated identity record found"}`)
			return
		}
		f.AADCalls.Add(1)
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":%q}`, f.AADToken)
	default:
		http.NotFound(w, r)
	}
}

// Exchange serves ACR's POST /oauth2/exchange (an Entra access token for a refresh token,
// service being the registry's host) and hands every other request to next.
func (f *Azure) Exchange(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth2/exchange" {
			next.ServeHTTP(w, r)
			return
		}
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodPost || r.Form.Get("grant_type") != "access_token" || r.Form.Get("service") != strings.Split(r.Host, ":")[0] {
			http.Error(w, `{"errors":[{"code":"UNSUPPORTED","message":"unexpected exchange"}]}`, http.StatusBadRequest)
			return
		}
		if s := f.ExchangeStatus.Load(); s != 0 || r.Form.Get("access_token") != f.AADToken {
			w.WriteHeader(cmp.Or(int(s), http.StatusUnauthorized))
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"the identity may not access this registry"}]}`)
			return
		}
		f.ExchangeCalls.Add(1)
		fmt.Fprintf(w, `{"refresh_token":%q}`, f.RefreshToken)
	})
}
