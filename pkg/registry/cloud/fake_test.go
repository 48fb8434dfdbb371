package cloud

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// fakeAWS is a loopback STS (AssumeRoleWithWebIdentity) and ECR (GetAuthorizationToken) that
// the real SDK reaches through AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL_ECR.
type fakeAWS struct {
	srv *httptest.Server
	// password is the registry password the token carries.
	password string
	// ecrStatus, when set, is ECR's answer (e.g. 400 AccessDenied).
	ecrStatus atomic.Int32
	stsCalls  atomic.Int32
	ecrCalls  atomic.Int32
	mu        sync.Mutex
	targets   []string
}

func newFakeAWS(t testing.TB, password string) *fakeAWS {
	t.Helper()
	f := &fakeAWS{password: password}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("projected-sa-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_ECR":                   f.srv.URL,
		"AWS_ENDPOINT_URL_STS":                   f.srv.URL,
		"AWS_WEB_IDENTITY_TOKEN_FILE":            tokenFile,
		"AWS_ROLE_ARN":                           "arn:aws:iam::123456789012:role/pullguard",
		"AWS_ROLE_SESSION_NAME":                  "pullguard",
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_CONFIG_FILE":                        filepath.Join(dir, "none"),
		"AWS_SHARED_CREDENTIALS_FILE":            filepath.Join(dir, "none"),
		"AWS_ECR_DISABLE_CACHE":                  "true",
		"AWS_ACCESS_KEY_ID":                      "",
		"AWS_SECRET_ACCESS_KEY":                  "",
		"AWS_PROFILE":                            "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_ENDPOINT_URL":                       "",
		"HOME":                                   dir,
	} {
		t.Setenv(k, v)
	}
	return f
}

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	f.mu.Lock()
	f.targets = append(f.targets, target)
	f.mu.Unlock()
	if target == "" {
		_ = r.ParseForm()
		if r.Form.Get("Action") != "AssumeRoleWithWebIdentity" || r.Form.Get("WebIdentityToken") != "projected-sa-token" {
			http.Error(w, "unexpected STS call", http.StatusBadRequest)
			return
		}
		f.stsCalls.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>`+
			`<Credentials><AccessKeyId>ASIAFAKE</AccessKeyId><SecretAccessKey>secret</SecretAccessKey><SessionToken>session</SessionToken>`+
			`<Expiration>`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`</Expiration></Credentials>`+
			`<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/pullguard/pullguard</Arn><AssumedRoleId>AROA:pullguard</AssumedRoleId></AssumedRoleUser>`+
			`</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`)
		return
	}
	if target != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" {
		http.Error(w, "unexpected ECR call", http.StatusBadRequest)
		return
	}
	if !strings.Contains(r.Header.Get("Authorization"), "ASIAFAKE") {
		http.Error(w, "not signed with the web identity's keys", http.StatusForbidden)
		return
	}
	f.ecrCalls.Add(1)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if s := f.ecrStatus.Load(); s != 0 {
		w.WriteHeader(int(s))
		fmt.Fprint(w, `{"__type":"AccessDeniedException","message":"User is not authorized to perform: ecr:GetAuthorizationToken"}`)
		return
	}
	token := base64.StdEncoding.EncodeToString([]byte("AWS:" + f.password))
	fmt.Fprintf(w, `{"authorizationData":[{"authorizationToken":%q,"expiresAt":%d,"proxyEndpoint":"https://123456789012.dkr.ecr.us-east-1.amazonaws.com"}]}`,
		token, time.Now().Add(12*time.Hour).Unix())
}

// LoopbackClient is an HTTP client for the SDK whose dialer refuses every non-loopback
// address: were an endpoint override ignored, the call fails here instead of leaving the
// machine. refused counts the refusals.
func loopbackClient(refused *atomic.Int32) *awshttp.BuildableClient {
	d := &net.Dialer{Timeout: 2 * time.Second}
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.Proxy = nil
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				refused.Add(1)
				return nil, errors.New("test dialer: " + addr + " is not loopback")
			}
			return d.DialContext(ctx, network, addr)
		}
	})
}
