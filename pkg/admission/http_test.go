package admission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

// podReview is an AdmissionReview as the API server sends it for `kubectl run`.
func podReview(uid, image string) string {
	return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{` +
		`"uid":"` + uid + `","kind":{"group":"","version":"v1","kind":"Pod"},` +
		`"resource":{"group":"","version":"v1","resource":"pods"},"requestKind":{"group":"","version":"v1","kind":"Pod"},` +
		`"name":"web","namespace":"app","operation":"CREATE",` +
		`"userInfo":{"username":"alice","groups":["system:authenticated"]},` +
		`"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"app"},` +
		`"spec":{"containers":[{"name":"web","image":"` + image + `","imagePullPolicy":"IfNotPresent"}]}},` +
		`"oldObject":null,"dryRun":false,"options":{"apiVersion":"meta.k8s.io/v1","kind":"CreateOptions"}}}`
}

// post sends body to the handler Setup registers, as the API server would.
func post(t *testing.T, e *env, query, contentType string, body []byte) (admissionv1.AdmissionReview, time.Duration) {
	t.Helper()
	srv := httptest.NewServer(e.h.HTTPHandler())
	t.Cleanup(srv.Close)
	start := time.Now()
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Post(srv.URL+Path+query, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	elapsed := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d; the real status travels in the AdmissionReview", resp.StatusCode)
	}
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Response == nil {
		t.Fatal("no response in the AdmissionReview")
	}
	return out, elapsed
}

func TestHTTP(t *testing.T) {
	const uid = "705ab4f5-6393-11e8-b7cc-42010a800002"
	tests := map[string]struct {
		mode         Mode
		checker      *fakeChecker
		contentType  string
		body         []byte
		wantAllowed  bool
		wantCode     int32
		wantUID      string
		wantMessage  string
		wantCauses   []string
		wantWarnings []string
	}{
		"deny": {
			mode: ModeEnforce, checker: badChecker(), body: []byte(podReview(uid, badImage)), wantUID: uid, wantCode: 422,
			wantMessage: `Pod "web" is invalid: spec.containers[0].image: Invalid value: "nginx:1.999": pullguard: ` + badDetail,
			wantCauses:  []string{`spec.containers[0].image: Invalid value: "nginx:1.999": pullguard: ` + badDetail}},
		"warn": {
			mode: ModeWarn, checker: badChecker(), body: []byte(podReview(uid, badImage)), wantUID: uid, wantCode: 200, wantAllowed: true,
			wantWarnings: []string{"spec.containers[0].image: pullguard: " + badDetail}},
		"allow": {
			mode: ModeEnforce, body: []byte(podReview(uid, "nginx:1.25")), wantUID: uid, wantCode: 200, wantAllowed: true},
		"panic": {
			mode: ModeEnforce, checker: &fakeChecker{panicOn: badImage}, body: []byte(podReview(uid, badImage)), wantUID: uid, wantCode: 500,
			wantMessage: "internal error in the pullguard webhook (recovered panic); the images were not checked, see the webhook logs"},
		"oversized body": {
			mode: ModeEnforce, body: []byte(podReview(uid, strings.Repeat("a", 2<<20))), wantCode: 413,
			wantMessage: "AdmissionReview body is larger than the 1048576-byte limit of the pullguard webhook"},
		"malformed JSON": {
			mode: ModeEnforce, body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{`), wantCode: 400},
		"empty body": {
			mode: ModeEnforce, body: nil, wantCode: 400, wantMessage: "request body is empty"},
		"wrong content type": {
			mode: ModeEnforce, contentType: "text/plain", body: []byte(podReview(uid, badImage)), wantCode: 400,
			wantMessage: "contentType=text/plain, expected application/json"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, testConfig(func(c *Config) { c.DefaultMode, c.MaxRequestBytes = tc.mode, 1<<20 }), tc.checker)
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			out, _ := post(t, e, "?timeout=10s", ct, tc.body)
			r := out.Response
			if r.Allowed != tc.wantAllowed || string(r.UID) != tc.wantUID || r.Result == nil || r.Result.Code != tc.wantCode {
				t.Fatalf("allowed=%v uid=%q status=%+v, want allowed=%v uid=%q code=%d", r.Allowed, r.UID, r.Result, tc.wantAllowed, tc.wantUID, tc.wantCode)
			}
			if tc.wantMessage != "" && r.Result.Message != tc.wantMessage {
				t.Errorf("message %q, want %q", r.Result.Message, tc.wantMessage)
			}
			if got := causes(r.Result); !slices.Equal(got, tc.wantCauses) {
				t.Errorf("causes %q, want %q", got, tc.wantCauses)
			}
			if !slices.Equal(r.Warnings, tc.wantWarnings) {
				t.Errorf("warnings %q, want %q", r.Warnings, tc.wantWarnings)
			}
		})
	}
}

// TestTrickledBodyIsCutAtTheBudget: a client that sends its headers and then dribbles the body
// must lose the connection once the admission budget is spent, not hold it forever.
func TestTrickledBodyIsCutAtTheBudget(t *testing.T) {
	e := newEnv(t, testConfig(func(c *Config) { c.MaxBudget, c.TimeoutMargin = 300*time.Millisecond, 100*time.Millisecond }), &fakeChecker{})
	srv := httptest.NewServer(e.h.HTTPHandler())
	t.Cleanup(srv.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := podReview("u", "nginx:1.25")
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", Path, len(body)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		// The server answers (an error) and closes; reading until EOF observes that.
		_, _ = io.Copy(io.Discard, conn)
		closed <- time.Since(start)
	}()
	for i := 0; i < len(body); i++ {
		select {
		case d := <-closed:
			if d > 3*time.Second {
				t.Fatalf("connection held for %s, want about the 300ms budget", d)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if _, err := conn.Write([]byte{body[i]}); err != nil {
			return // the server has closed the connection: what we want
		}
		if time.Since(start) > 5*time.Second {
			break
		}
	}
	t.Fatal("the server kept reading a trickled body past its budget")
}
