package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeAPIServer is the least of a Kubernetes API server that lets Run start: core/v1 discovery
// and empty list/watch of Namespace metadata and Nodes (what admission.Setup watches). The real
// API server round trip is the e2e suite's job; this one keeps Main's own tests fast. Secrets
// or any other resource answer 404, and every request is counted so tests can assert the
// webhook never listed them.
type fakeAPIServer struct {
	*httptest.Server
	unexpected atomic.Int64
	// lists, while open, holds every list and watch: the informers cannot sync.
	lists   chan struct{}
	release sync.Once
}

const coreV1Resources = `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"v1","resources":[
{"name":"namespaces","singularName":"namespace","namespaced":false,"kind":"Namespace","verbs":["get","list","watch"]},
{"name":"nodes","singularName":"node","namespaced":false,"kind":"Node","verbs":["get","list","watch"]},
{"name":"secrets","singularName":"secret","namespaced":true,"kind":"Secret","verbs":["get"]},
{"name":"serviceaccounts","singularName":"serviceaccount","namespaced":true,"kind":"ServiceAccount","verbs":["get"]}]}`

// Bearer tokens the fake API server knows, for the secure metrics endpoint.
const (
	scraperToken = "scraper-token"
	viewerToken  = "viewer-token"
)

// newFakeAPIServer starts the server; with holdLists, lists and watches wait for releaseLists.
func newFakeAPIServer(t *testing.T, holdLists bool) *fakeAPIServer {
	t.Helper()
	f := &fakeAPIServer{lists: make(chan struct{})}
	if !holdLists {
		f.releaseLists()
	}
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprint(w, body)
	}
	mux.HandleFunc("GET /api", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, `{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]}`)
	})
	mux.HandleFunc("GET /apis", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, `{"kind":"APIGroupList","apiVersion":"v1","groups":[]}`)
	})
	mux.HandleFunc("GET /api/v1", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, coreV1Resources) })
	// Namespaces are watched as metadata, Nodes as typed objects (slimmed by the cache).
	lists := map[string]struct{ list, item string }{
		"namespaces": {`"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1"`, `"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1"`},
		"nodes":      {`"kind":"NodeList","apiVersion":"v1"`, `"kind":"Node","apiVersion":"v1"`},
	}
	for resource, kinds := range lists {
		mux.HandleFunc("GET /api/v1/"+resource, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-f.lists:
			case <-r.Context().Done():
				return
			}
			if r.URL.Query().Get("watch") != "true" {
				writeJSON(w, `{`+kinds.list+`,"metadata":{"resourceVersion":"1"},"items":[]}`)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Query().Get("sendInitialEvents") == "true" {
				// A streaming list of nothing: only the bookmark that ends the initial events.
				_, _ = fmt.Fprint(w, `{"type":"BOOKMARK","object":{`+kinds.item+`,"metadata":{"resourceVersion":"1","annotations":{"k8s.io/initial-events-end":"true"}}}}`+"\n")
			}
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
	}
	// The secure metrics endpoint asks who a bearer token is and whether that user may GET
	// /metrics: scraperToken belongs to "scraper", who may; viewerToken to "viewer", who may not.
	mux.HandleFunc("POST /apis/authentication.k8s.io/v1/tokenreviews", func(w http.ResponseWriter, r *http.Request) {
		var review struct {
			Spec struct {
				Token string `json:"token"`
			} `json:"spec"`
		}
		_ = json.NewDecoder(r.Body).Decode(&review)
		user, ok := map[string]string{scraperToken: "scraper", viewerToken: "viewer"}[review.Spec.Token]
		writeJSON(w, fmt.Sprintf(`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"authenticated":%t,"user":{"username":%q}}}`, ok, user))
	})
	mux.HandleFunc("POST /apis/authorization.k8s.io/v1/subjectaccessreviews", func(w http.ResponseWriter, r *http.Request) {
		var review struct {
			Spec struct {
				User                  string `json:"user"`
				NonResourceAttributes *struct {
					Path string `json:"path"`
					Verb string `json:"verb"`
				} `json:"nonResourceAttributes"`
			} `json:"spec"`
		}
		_ = json.NewDecoder(r.Body).Decode(&review)
		a := review.Spec.NonResourceAttributes
		allowed := review.Spec.User == "scraper" && a != nil && a.Path == "/metrics" && a.Verb == "get"
		writeJSON(w, fmt.Sprintf(`{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","status":{"allowed":%t}}`, allowed))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.unexpected.Add(1)
		t.Logf("fake API server: unexpected %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	// Cleanups run last-in first-out: held requests end before Close waits for them.
	t.Cleanup(f.releaseLists)
	return f
}

func (f *fakeAPIServer) releaseLists() { f.release.Do(func() { close(f.lists) }) }

// kubeconfig writes a kubeconfig pointing at the fake server.
func (f *fakeAPIServer) kubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: %q}}]
users: [{name: u, user: {}}]
contexts: [{name: fake, context: {cluster: fake, user: u}}]
current-context: fake
`, f.URL)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
