package registry_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/internal/testregistry"
	"github.com/pullguard/pullguard/pkg/admission"
)

// echoRegistry is a registry and token service on loopback that repeats the credential it was
// sent in every place a registry's words reach the engine: error bodies (raw and in registry
// error codes, messages and details), headers (Retry-After, WWW-Authenticate), token responses
// without a token, and error statuses at the token realm. Which one it does is chosen by the
// repository: /v2/<place>/app. It answers as host with Basic authentication, and as
// token.<host> with the bearer token flow.
func echoRegistry(t *testing.T, ca *testregistry.CA, network *testregistry.Network, host string) {
	t.Helper()
	echoed := func(req *http.Request) (string, string) {
		auth := strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
		plain, _ := base64.StdEncoding.DecodeString(auth)
		_, password, _ := strings.Cut(string(plain), ":")
		return password, auth
	}
	registryError := func(w http.ResponseWriter, status int, code, msg, detail string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg, "detail": detail}}})
	}
	front, err := network.Serve(ca, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		password, auth := echoed(req)
		place, _, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/v2/"), "/")
		if req.URL.Path == "/token" {
			scope := strings.TrimPrefix(req.URL.Query().Get("scope"), "repository:")
			place, _, _ = strings.Cut(scope, "/")
		}
		tokenHost := strings.HasPrefix(req.Host, "token.")
		switch {
		case req.URL.Path == "/v2/" && tokenHost:
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="https://%s/token",service="echo"`, req.Host))
			registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required", "")
		case auth == "" && !tokenHost:
			w.Header().Set("WWW-Authenticate", `Basic realm="echo"`)
			registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required", "")
		case req.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case place == "token400":
			w.Header().Set("X-Echo", password)
			registryError(w, http.StatusBadRequest, "INVALID_"+password, "invalid password "+password, "auth "+auth)
		case place == "token401":
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="https://%s/token?%s",error=%q`, req.Host, url.QueryEscape(password), password))
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"details":"wrong password %s for %s"}`, password, auth)
		case place == "tokenless":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"password":%q,"auth":%q}`, password, auth)
		case place == "tokenraw":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "bad request from %s (%s)", password, auth)
		case place == "raw400":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "<html>bad request: password=%s auth=%s</html>", password, auth)
		case place == "code404":
			registryError(w, http.StatusNotFound, password, "no manifest for "+password, auth)
		case place == "code401":
			w.Header().Set("WWW-Authenticate", `Basic realm="`+password+`"`)
			registryError(w, http.StatusUnauthorized, password, "unknown user "+password, auth)
		case place == "retry429":
			w.Header().Set("Retry-After", password)
			registryError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "slow down "+password, auth)
		case place == "unavailable503":
			registryError(w, http.StatusServiceUnavailable, "UNAVAILABLE", password, auth)
		default:
			registryError(w, http.StatusBadRequest, "UNKNOWN", "nothing here", "")
		}
	}), host, "token."+host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(front.Close)
}

// TestEchoedCredentialNeverCopied checks images on the echo registry through the real handler
// and engine, in every mode and with Unverifiable verdicts denied too, and fails if the
// credential, in any encoding, appears in the answers (denials, warnings, audit annotations),
// the metrics or the logs.
func TestEchoedCredentialNeverCopied(t *testing.T) {
	captureLogs()
	ca, caFile, network := testregistry.Trusted(t)
	const host = "echo.example.com"
	echoRegistry(t, ca, network, host)

	const user, password = "alice", "Ech0ed-Pa55word+plus/slash"
	secrets := []string{password, b64(user + ":" + password)}
	entry := map[string]string{"username": user, "password": password}
	doc, err := json.Marshal(map[string]map[string]map[string]string{"auths": {host: entry, "token." + host: entry}})
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "app"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: doc},
	}
	places := map[string]string{
		"token service 400 with the password in code, message, detail and a header": "token." + host + "/token400",
		"token service 401 with the password in its body and challenge":             "token." + host + "/token401",
		"token service 200 without a token, echoing the credential":                 "token." + host + "/tokenless",
		"token service 400 with a raw body":                                         "token." + host + "/tokenraw",
		"manifest 400 with a raw body":                                              host + "/raw400",
		"manifest 404 with the password as error code":                              host + "/code404",
		"manifest 401 with the password as error code and realm":                    host + "/code401",
		"manifest 429 with the password as Retry-After":                             host + "/retry429",
		"manifest 503 with the password as message":                                 host + "/unavailable503",
	}
	var answers bytes.Buffer
	for name, place := range places {
		t.Run(name, func(t *testing.T) {
			metrics := prometheus.NewRegistry()
			for _, mode := range []admission.Mode{admission.ModeEnforce, admission.ModeWarn, admission.ModeAudit} {
				answers.Write(secretCheck(t, secretEnv{caFile: caFile, network: network, metrics: metrics, secret: secret,
					image: place + "/app:v1", mode: mode, denyUnverifiable: true}))
			}
			families, err := metrics.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range families {
				if _, err := expfmt.MetricFamilyToText(&answers, f); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	logs := capturedLog()
	for _, s := range secrets {
		var forms []string
		for _, form := range secretForms(s) {
			// Messages quote with %q, and the answer is JSON: a form may be escaped twice.
			quoted := strings.Trim(fmt.Sprintf("%q", form), `"`)
			forms = append(forms, form, quoted, jsonEscaped(quoted))
		}
		for _, form := range forms {
			for where, text := range map[string]string{"logs": logs, "answers or metrics": answers.String()} {
				if i := strings.Index(text, form); i >= 0 {
					t.Errorf("credential %q (as %q) appears in the %s: …%s…", s, form, where, text[max(0, i-200):min(len(text), i+len(form)+200)])
				}
			}
		}
	}
	if !strings.Contains(answers.String(), "[redacted]") {
		t.Errorf("no answer says [redacted]: the registry's echo never reached a message, so the test proves nothing")
	}
	if os.Getenv("PULLGUARD_DUMP_SECRET_TEST") != "" {
		t.Logf("answers:\n%s", answers.String())
	}
}

func jsonEscaped(s string) string {
	j, _ := json.Marshal(s)
	return strings.Trim(string(j), `"`)
}
