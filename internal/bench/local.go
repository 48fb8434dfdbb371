package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	ctrladmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/cmd/webhook/app"
	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/internal/testregistry"
	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/registry"
)

// clientConfig trusts the test bed's loopback CA.
func clientConfig(l *testbed.TLSMaterial) *tls.Config {
	return &tls.Config{RootCAs: l.Pool, MinVersion: tls.VersionTLS12}
}

// startTLSServer serves h over TLS with cert on a fresh loopback port.
func startTLSServer(h http.Handler, cert tls.Certificate) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	return s
}

// localRegistry is go-containerregistry's in-memory registry behind TLS on loopback, without
// authentication: the registry for the in-process benchmarks, which do not need a test bed.
type localRegistry struct {
	server *httptest.Server
	// Host is 127.0.0.1:port.
	Host string
	tls  *testbed.TLSMaterial
}

func startLocalRegistry(l *testbed.TLSMaterial) *localRegistry {
	s := startTLSServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))), l.Pair)
	return &localRegistry{server: s, Host: s.Listener.Addr().String(), tls: l}
}

func (r *localRegistry) Close() { r.server.Close() }

// push stores a small linux/amd64 image as repoTag and returns its reference.
func (r *localRegistry) push(ctx context.Context, repoTag string) (string, error) {
	img, err := linuxAMD64Image()
	if err != nil {
		return "", err
	}
	ref, err := name.ParseReference(r.Host + "/" + repoTag)
	if err != nil {
		return "", fmt.Errorf("parsing %s: %w", repoTag, err)
	}
	tr := &http.Transport{Proxy: nil, TLSClientConfig: clientConfig(r.tls)}
	defer tr.CloseIdleConnections()
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithTransport(tr)); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	return ref.String(), nil
}

// engineOptions are the webhook's registry defaults with the loopback hosts allowlisted (as the
// test bed runs the webhook), caFile trusted, and metrics on a registry of their own.
func engineOptions(caFile string) registry.Options {
	opts := registry.DefaultOptions()
	opts.Egress.AllowPrivate = []string{"127.0.0.1", "localhost"}
	opts.Egress.CAFile = caFile
	opts.Registerer = prometheus.NewRegistry()
	return opts
}

// benchNamespace is where the in-process benchmarks admit their objects.
const benchNamespace = "bench"

// newHandler is the webhook's admission handler with its default config in enforce mode. Its
// API reader (Secrets and ServiceAccounts, which the handler caches itself) is a fake client
// holding the namespace's default ServiceAccount and objs; its metadata reader is an
// informerReader with the namespace and two linux/amd64 Nodes.
func newHandler(checker admission.Checker, objs ...client.Object) (*admission.Handler, error) {
	cfg := admission.DefaultConfig()
	cfg.DefaultMode = admission.ModeEnforce
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: benchNamespace}}
	api := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(append(objs, sa)...).Build()
	amd64 := map[string]string{corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64"}
	metadata := newInformerReader([]string{benchNamespace}, map[string]map[string]string{"node-a": amd64, "node-b": amd64})
	metrics, err := admission.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	return admission.NewHandler(cfg, checker, api, metadata, metrics)
}

// noopHandler answers every AdmissionReview with "allowed" at once, through the same
// controller-runtime machinery as pullguard's handler: what any webhook on this server costs.
func noopHandler() http.Handler {
	return &ctrladmission.Webhook{Handler: ctrladmission.HandlerFunc(func(context.Context, ctrladmission.Request) ctrladmission.Response {
		return ctrladmission.Allowed("")
	})}
}

// Deployment is the workload every admission benchmark admits: one replica, one container per
// image, the given imagePullSecrets.
func Deployment(namespace, name string, images []string, pullSecrets ...string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}},
		},
	}
	for i, image := range images {
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "c" + strconv.Itoa(i), Image: image})
	}
	for _, s := range pullSecrets {
		d.Spec.Template.Spec.ImagePullSecrets = append(d.Spec.Template.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	return d
}

// deploymentReview is the AdmissionReview the API server sends for a dry-run CREATE of d.
func deploymentReview(uid string, d *appsv1.Deployment) ([]byte, error) {
	obj, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encoding the deployment: %w", err)
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:         types.UID(uid),
			Kind:        metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
			Resource:    metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"},
			RequestKind: &metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
			Name:        d.Name,
			Namespace:   d.Namespace,
			Operation:   admissionv1.Create,
			Object:      runtime.RawExtension{Raw: obj},
			DryRun:      new(true),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding the review: %w", err)
	}
	return b, nil
}

// admissionServer is the webhook's own HTTPS server (app.NewWebhookServer) on a loopback port.
type admissionServer struct {
	URL    string
	Client *http.Client
	cancel context.CancelFunc
	done   chan error
}

// startAdmissionServer serves handlers (path → handler) on the webhook's server, built as the
// webhook builds it, with a certificate from l.
func startAdmissionServer(l *testbed.TLSMaterial, clients int, handlers map[string]http.Handler) (*admissionServer, error) {
	port, err := testbed.FreePort()
	if err != nil {
		return nil, err
	}
	opts := app.DefaultOptions()
	opts.BindAddress, opts.Port, opts.CertDir = "127.0.0.1", port, l.Dir
	srv := app.NewWebhookServer(opts)
	for path, h := range handlers {
		srv.Register(path, h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &admissionServer{
		URL:    "https://127.0.0.1:" + strconv.Itoa(port),
		cancel: cancel,
		done:   make(chan error, 1),
		Client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			Proxy: nil, TLSClientConfig: clientConfig(l), MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients,
		}},
	}
	go func() { s.done <- srv.Start(ctx) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		if srv.StartedChecker()(req) == nil {
			return s, nil
		}
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("the webhook server exited: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, errors.New("the webhook server did not start within 15s")
		}
	}
}

func (s *admissionServer) Close() {
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
	}
	s.Client.CloseIdleConnections()
}

// post sends an AdmissionReview body to path and returns the decoded response.
func (s *admissionServer) post(ctx context.Context, path string, body []byte) (*admissionv1.AdmissionResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path+"?timeout=10s", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("decoding the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK || out.Response == nil {
		return nil, fmt.Errorf("HTTP %d without an AdmissionReview response", resp.StatusCode)
	}
	return out.Response, nil
}

func tempDir(prefix string) (string, func(), error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, fmt.Errorf("creating a temporary directory: %w", err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

// linuxAMD64Image is a small random image whose config says linux/amd64, as real images do.
func linuxAMD64Image() (v1.Image, error) {
	return testregistry.PlatformImage(v1.Platform{OS: "linux", Architecture: "amd64"})
}
