// Package testcloud runs fake cloud token services on loopback for tests: the real SDKs reach
// them through their documented endpoint overrides, and their own HTTP clients are given a
// dialer that refuses every non-loopback address. It only ever listens on 127.0.0.1.
package testcloud

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// AWS is a loopback STS (AssumeRoleWithWebIdentity) and ECR (GetAuthorizationToken) that
// the real SDK reaches through AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL_ECR.
type AWS struct {
	Server   *httptest.Server
	password string
	// ECRStatus, when set, is ECR's answer to GetAuthorizationToken (e.g. 400 AccessDenied).
	ECRStatus atomic.Int32
	// STSCalls and ECRCalls count the token exchanges served.
	STSCalls atomic.Int32
	ECRCalls atomic.Int32
}

// NewAWS starts the fake and points the AWS SDK of this test at it (t.Setenv): web identity
// from a token file, STS and ECR endpoints on loopback, no shared config, no IMDS. Every token
// it hands out carries the registry user AWS with password.
func NewAWS(t testing.TB, password string) *AWS {
	t.Helper()
	f := &AWS{password: password}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Server.Close)
	dir := t.TempDir()
	setenv(t, map[string]string{
		"AWS_ENDPOINT_URL_ECR":                   f.Server.URL,
		"AWS_ENDPOINT_URL_STS":                   f.Server.URL,
		"AWS_WEB_IDENTITY_TOKEN_FILE":            projectedTokenFile(t, dir),
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
	})
	return f
}

func (f *AWS) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if target == "" {
		_ = r.ParseForm()
		if r.Form.Get("Action") != "AssumeRoleWithWebIdentity" || r.Form.Get("WebIdentityToken") != projectedToken {
			http.Error(w, "unexpected STS call", http.StatusBadRequest)
			return
		}
		f.STSCalls.Add(1)
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
	f.ECRCalls.Add(1)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if s := f.ECRStatus.Load(); s != 0 {
		w.WriteHeader(int(s))
		fmt.Fprint(w, `{"__type":"AccessDeniedException","message":"User is not authorized to perform: ecr:GetAuthorizationToken"}`)
		return
	}
	token := base64.StdEncoding.EncodeToString([]byte("AWS:" + f.password))
	fmt.Fprintf(w, `{"authorizationData":[{"authorizationToken":%q,"expiresAt":%d,"proxyEndpoint":"https://123456789012.dkr.ecr.us-east-1.amazonaws.com"}]}`,
		token, time.Now().Add(12*time.Hour).Unix())
}

// LoopbackClient is an HTTP client for the AWS SDK whose dialer refuses every non-loopback
// address: were an endpoint override ignored, the call fails here instead of leaving the
// machine. refused counts the refusals.
func LoopbackClient(refused *atomic.Int32) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.Proxy = nil
		tr.DialContext = loopbackDial(refused)
	})
}
