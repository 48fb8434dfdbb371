package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/pullguard/pullguard/certs/selfca"
	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/registry"
)

// controller-runtime's webhook server (pkg/internal/httpserver) gives a client 32 s to finish
// its TLS handshake and its request headers; webhook.Options does not expose it. The hostile
// tests allow generous slack on top because the race detector and a shared 2-core machine slow
// everything down.
const (
	serverHeaderTimeout = 32 * time.Second
	hostileSlack        = 15 * time.Second
)

// pullableChecker answers Pullable at once: the hostile tests are about the server, not registries.
type pullableChecker struct{}

func (pullableChecker) Check(_ context.Context, req registry.Request) registry.Verdict {
	return registry.Verdict{Outcome: registry.Pullable, Class: registry.ClassOK, Image: req.Image}
}

// hostileServer runs the webhook server exactly as managerOptions builds it from DefaultOptions
// (TLS floor, no h2, controller-runtime's timeouts), with the real admission handler at
// admission.Path over stub dependencies, on a free loopback port. It returns the address and a
// client that trusts the serving certificate; the server stops with the test.
func hostileServer(t *testing.T) (string, *http.Client) {
	t.Helper()
	bundle, err := selfca.Generate([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.CertDir = t.TempDir()
	if err := bundle.WriteDir(o.CertDir); err != nil {
		t.Fatal(err)
	}
	o.BindAddress = "127.0.0.1"
	o.Port = freePort(t)
	o.Admission.DefaultMode = admission.ModeEnforce

	reader := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).Build()
	h, err := admission.NewHandler(o.Admission, pullableChecker{}, reader, reader, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := managerOptions(o, k8sruntime.NewScheme(), nil).WebhookServer
	srv.Register(admission.Path, h.HTTPHandler())
	serveUntilStarted(t, srv, 15*time.Second)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle.CACert)
	c := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	t.Cleanup(c.CloseIdleConnections)
	return net.JoinHostPort(o.BindAddress, fmt.Sprint(o.Port)), c
}

// hostileReview is an AdmissionReview for a Pod CREATE whose object is objectJSON.
func hostileReview(t *testing.T, uid, objectJSON string) []byte {
	t.Helper()
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       "UIDPLACEHOLDER",
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Name:      "web",
			Namespace: "app",
			Operation: admissionv1.Create,
			Object:    k8sruntime.RawExtension{Raw: []byte(`"OBJECTPLACEHOLDER"`)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Spliced in rather than marshalled, so that the object may be anything, even invalid JSON.
	b = bytes.Replace(b, []byte(`"OBJECTPLACEHOLDER"`), []byte(objectJSON), 1)
	return bytes.Replace(b, []byte("UIDPLACEHOLDER"), []byte(uid), 1)
}

func hostilePod(containers int) string {
	p := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "app"}}
	for i := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: fmt.Sprintf("registry.example/app/c%d:1.0", i)})
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// postHostile posts body to /validate and decodes the answer, which must be an HTTP 200
// AdmissionReview whatever the input: the real status travels inside it.
func postHostile(c *http.Client, addr, contentType string, body io.Reader) (*admissionv1.AdmissionResponse, error) {
	resp, err := c.Post("https://"+addr+admission.Path+"?timeout=10s", contentType, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("decoding the answer: %w", err)
	}
	if out.Response == nil {
		return nil, errors.New("AdmissionReview without a response")
	}
	return out.Response, nil
}

// TestSlowLorisClientsAreCutOff holds connections open by dribbling a TLS handshake or request
// headers one byte a second. The server must close each one within its header timeout, and a
// well-behaved client (the API server) must be answered promptly all along.
//
// A third kind sends complete headers and then dribbles the body. controller-runtime's server
// sets no ReadTimeout; the admission handler bounds reading the body by the admission budget
// (--max-budget, as these requests carry no ?timeout=), which is below the header timeout.
func TestSlowLorisClientsAreCutOff(t *testing.T) {
	t.Parallel()
	addr, c := hostileServer(t)
	const perKind = 30
	limit := serverHeaderTimeout + hostileSlack

	type result struct {
		kind   string
		closed time.Duration
		err    error
	}
	results := make(chan result, 3*perKind)
	stop := make(chan struct{})
	// cut are the dribblers the server must close.
	var cut sync.WaitGroup
	dribble := func(kind string, open func() (net.Conn, []byte, error)) {
		defer cut.Done()
		start := time.Now()
		conn, prefix, err := open()
		if err != nil {
			results <- result{kind: kind, err: err}
			return
		}
		defer conn.Close()
		closed := make(chan time.Duration, 1)
		go func() {
			// The server never answers a half-sent request: Read returns only when it closes.
			_, _ = io.Copy(io.Discard, conn)
			closed <- time.Since(start)
		}()
		if _, err := conn.Write(prefix); err != nil {
			results <- result{kind: kind, closed: time.Since(start)}
			return
		}
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case d := <-closed:
				results <- result{kind: kind, closed: d}
				return
			case <-stop:
				results <- result{kind: kind, err: fmt.Errorf("still open after %s", time.Since(start).Round(time.Second))}
				return
			case <-tick.C:
				// A write error means the server is gone; the reader reports when.
				_, _ = conn.Write([]byte("a"))
			}
		}
	}
	for range perKind {
		cut.Add(3)
		// Complete headers announcing a body that then trickles in.
		go dribble("body", func() (net.Conn, []byte, error) {
			d := &net.Dialer{Timeout: 5 * time.Second}
			conn, err := tls.DialWithDialer(d, "tcp", addr, c.Transport.(*http.Transport).TLSClientConfig)
			return conn, []byte("POST " + admission.Path + " HTTP/1.1\r\nHost: pullguard\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"), err
		})
		// The first bytes of a TLS record carrying a ClientHello, and then never the rest.
		go dribble("handshake", func() (net.Conn, []byte, error) {
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			return conn, []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}, err
		})
		// A complete handshake, then request headers that never end.
		go dribble("headers", func() (net.Conn, []byte, error) {
			d := &net.Dialer{Timeout: 5 * time.Second}
			conn, err := tls.DialWithDialer(d, "tcp", addr, c.Transport.(*http.Transport).TLSClientConfig)
			return conn, []byte("POST " + admission.Path + " HTTP/1.1\r\nHost: pullguard\r\nContent-Type: application/json\r\nX-Slow: "), err
		})
	}

	// The API server keeps calling while the slow clients hold their connections.
	served, slowest := 0, time.Duration(0)
	deadline := time.After(serverHeaderTimeout + 2*time.Second)
	for polling := true; polling; {
		select {
		case <-deadline:
			polling = false
		case <-time.After(2 * time.Second):
			start := time.Now()
			r, err := postHostile(c, addr, "application/json", bytes.NewReader(hostileReview(t, "legit", hostilePod(1))))
			took := time.Since(start)
			if err != nil || !r.Allowed || r.UID != "legit" {
				t.Errorf("a well-behaved client was not served while slow clients held connections: %+v, %v", r, err)
				continue
			}
			served++
			slowest = max(slowest, took)
		}
	}
	if slowest > 5*time.Second {
		t.Errorf("a well-behaved client waited %s while slow clients held connections", slowest)
	}

	var once sync.Once
	release := func() { once.Do(func() { close(stop) }) }
	timer := time.AfterFunc(limit-serverHeaderTimeout, release)
	defer timer.Stop()
	cut.Wait()
	release()
	close(results)
	longest := map[string]time.Duration{}
	for r := range results {
		switch {
		case r.err != nil:
			t.Errorf("%s slow-loris connection: %v", r.kind, r.err)
		case r.closed > limit:
			t.Errorf("%s slow-loris connection closed after %s, want within %s", r.kind, r.closed, limit)
		default:
			longest[r.kind] = max(longest[r.kind], r.closed)
		}
	}
	t.Logf("%d well-behaved requests served (slowest %s); dribblers cut off after at most %v", served, slowest, longest)
}

// TestOversizedAndMalformedReviews sends what no API server sends straight to /validate over
// TLS. Every input gets an AdmissionReview with a clear status (and the UID when the request
// could be decoded), and the server keeps serving.
func TestOversizedAndMalformedReviews(t *testing.T) {
	t.Parallel()
	addr, c := hostileServer(t)
	const uid = "6f0b8a4e-hostile"
	deep := strings.Repeat(`{"a":`, 200_000) + "1" + strings.Repeat("}", 200_000)
	tests := map[string]struct {
		contentType string
		body        func() io.Reader
		wantCode    int32
		wantUID     string
		wantAllowed bool
		wantMessage string
	}{
		"8 MiB body, above the 7 MiB cap": {
			body:     func() io.Reader { return bytes.NewReader(hostileReview(t, uid, `"`+strings.Repeat("a", 8<<20)+`"`)) },
			wantCode: http.StatusRequestEntityTooLarge, wantMessage: "larger than the 7340032-byte limit",
		},
		"256 MiB streamed body": {
			body:     func() io.Reader { return io.LimitReader(repeatReader('a'), 256<<20) },
			wantCode: http.StatusRequestEntityTooLarge, wantMessage: "larger than the 7340032-byte limit",
		},
		"not JSON": {
			body:     func() io.Reader { return strings.NewReader("\x00\xff<xml>") },
			wantCode: http.StatusBadRequest,
		},
		"object that is invalid JSON": {
			body:     func() io.Reader { return bytes.NewReader(hostileReview(t, uid, `{"spec":`)) },
			wantCode: http.StatusBadRequest,
		},
		"truncated JSON": {
			body: func() io.Reader {
				b := hostileReview(t, uid, hostilePod(1))
				return bytes.NewReader(b[:len(b)/2])
			},
			wantCode: http.StatusBadRequest,
		},
		"JSON nested 200,000 deep": {
			body:     func() io.Reader { return strings.NewReader(deep) },
			wantCode: http.StatusBadRequest,
		},
		"object nested 200,000 deep": {
			body:     func() io.Reader { return bytes.NewReader(hostileReview(t, uid, deep)) },
			wantCode: http.StatusBadRequest, wantMessage: "exceeded max depth",
		},
		"request of the wrong type": {
			body: func() io.Reader {
				return strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":"x"}`)
			},
			wantCode: http.StatusBadRequest,
		},
		"object that is not a Pod": {
			body:     func() io.Reader { return bytes.NewReader(hostileReview(t, uid, `{"spec":{"containers":"x"}}`)) },
			wantCode: http.StatusBadRequest, wantUID: uid, wantMessage: "pullguard could not decode the Pod",
		},
		"object that is a JSON string": {
			body:     func() io.Reader { return bytes.NewReader(hostileReview(t, uid, `"pod"`)) },
			wantCode: http.StatusBadRequest, wantUID: uid, wantMessage: "pullguard could not decode the Pod",
		},
		"null request": {
			body: func() io.Reader {
				return strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`)
			},
			wantCode: http.StatusOK, wantAllowed: true,
		},
		"5,000 containers": {
			body:     func() io.Reader { return bytes.NewReader(hostileReview(t, uid, hostilePod(5000))) },
			wantCode: http.StatusOK, wantUID: uid, wantAllowed: true,
		},
		"empty body": {
			body:     func() io.Reader { return http.NoBody },
			wantCode: http.StatusBadRequest, wantMessage: "request body is empty",
		},
		"wrong content type": {
			contentType: "application/yaml",
			body:        func() io.Reader { return bytes.NewReader(hostileReview(t, uid, hostilePod(1))) },
			wantCode:    http.StatusBadRequest, wantMessage: "expected application/json",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			start := time.Now()
			r, err := postHostile(c, addr, ct, tc.body())
			if err != nil {
				t.Fatal(err)
			}
			code := int32(http.StatusOK)
			if r.Result != nil && r.Result.Code != 0 {
				code = r.Result.Code
			}
			if code != tc.wantCode || string(r.UID) != tc.wantUID || r.Allowed != tc.wantAllowed {
				t.Errorf("code=%d uid=%q allowed=%v (%+v), want code=%d uid=%q allowed=%v", code, r.UID, r.Allowed, r.Result, tc.wantCode, tc.wantUID, tc.wantAllowed)
			}
			if !tc.wantAllowed && (r.Result == nil || r.Result.Message == "") {
				t.Error("a refusal without a message")
			}
			if tc.wantMessage != "" && (r.Result == nil || !strings.Contains(r.Result.Message, tc.wantMessage)) {
				t.Errorf("message %q lacks %q", r.Result.Message, tc.wantMessage)
			}
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("answered after %s", took)
			}
		})
	}
	r, err := postHostile(c, addr, "application/json", bytes.NewReader(hostileReview(t, "after", hostilePod(3))))
	if err != nil || !r.Allowed || r.UID != "after" {
		t.Fatalf("the server does not serve a valid review after the hostile ones: %+v, %v", r, err)
	}
}

// repeatReader is an endless stream of b.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}
