package testcloud

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// GCP is a loopback GCE metadata server (the service account token, GKE Workload Identity's
// source) and OAuth token endpoint (token_uri of a service account key file): the real
// golang.org/x/oauth2/google reaches the first through GCE_METADATA_HOST and the second through
// the file GOOGLE_APPLICATION_CREDENTIALS names.
type GCP struct {
	Server *httptest.Server
	token  string
	// TokenStatus, when set, is the answer to token requests (e.g. 403: the identity refused).
	TokenStatus atomic.Int32
	// MetadataCalls and TokenURICalls count the tokens handed out by each.
	MetadataCalls atomic.Int32
	TokenURICalls atomic.Int32
}

// gcpExpiresIn is the lifetime in seconds of the tokens handed out.
const gcpExpiresIn = 3599

// GCPSource is where application default credentials come from.
type GCPSource int

const (
	// GCPMetadata: the metadata server (GKE Workload Identity, GCE).
	GCPMetadata GCPSource = iota
	// GCPKeyFile: a service account key file whose token_uri is the fake.
	GCPKeyFile
)

// NewGCP starts the fake and points this test's application default credentials at it
// (t.Setenv): the metadata server at GCE_METADATA_HOST, and for GCPKeyFile a service account
// key file in GOOGLE_APPLICATION_CREDENTIALS; no gcloud well-known file. Every token it hands
// out is token, which the registry accepts from the user _token.
func NewGCP(t testing.TB, token string, source GCPSource) *GCP {
	t.Helper()
	f := &GCP{token: token}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Server.Close)
	dir := t.TempDir()
	u, _ := url.Parse(f.Server.URL)
	creds := ""
	if source == GCPKeyFile {
		creds = filepath.Join(dir, "key.json")
		if err := os.WriteFile(creds, serviceAccountKey(t, f.Server.URL+"/token"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setenv(t, map[string]string{
		"GCE_METADATA_HOST":              u.Host,
		"GOOGLE_APPLICATION_CREDENTIALS": creds,
		"CLOUDSDK_CONFIG":                dir,
		"HOME":                           dir,
	})
	return f
}

func serviceAccountKey(t testing.TB, tokenURI string) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	b, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "proj",
		"private_key_id": "1",
		"private_key":    string(pemKey),
		"client_email":   "pullguard@proj.iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      tokenURI,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *GCP) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/computeMetadata/v1/"):
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "missing Metadata-Flavor", http.StatusForbidden)
			return
		}
		switch strings.TrimPrefix(r.URL.Path, "/computeMetadata/v1/") {
		case "project/project-id":
			fmt.Fprint(w, "proj")
		case "instance/service-accounts/default/token":
			f.MetadataCalls.Add(1)
			f.writeToken(w)
		default:
			http.NotFound(w, r)
		}
	case r.URL.Path == "/token" && r.Method == http.MethodPost:
		_ = r.ParseForm()
		if r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || r.Form.Get("assertion") == "" {
			http.Error(w, "unexpected token request", http.StatusBadRequest)
			return
		}
		f.TokenURICalls.Add(1)
		f.writeToken(w)
	default:
		http.NotFound(w, r)
	}
}

func (f *GCP) writeToken(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	if s := f.TokenStatus.Load(); s != 0 {
		w.WriteHeader(int(s))
		fmt.Fprint(w, `{"error":"access_denied","error_description":"the service account may not get tokens"}`)
		return
	}
	fmt.Fprintf(w, `{"access_token":%q,"expires_in":%d,"token_type":"Bearer"}`, f.token, gcpExpiresIn)
}

// GuardMetadata points the GCE metadata client at a closed loopback port for the whole test
// process; call it from TestMain before any test runs. The client keeps its first "on GCE?"
// answer for the process, and without GCE_METADATA_HOST it would find it by dialling
// 169.254.169.254 and resolving metadata.google.internal: even a test that forgets NewGCP must
// not send that packet.
func GuardMetadata() {
	if err := os.Setenv("GCE_METADATA_HOST", "127.0.0.1:9"); err != nil {
		panic(err)
	}
}
