package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pullguard/pullguard/internal/testregistry"
)

// TestDigestOnlyUnderBlobs pins what the node does with a digest that a registry answers 404 for
// under /manifests/ but serves, with a manifest media type, under /blobs/. containerd's resolver
// (core/remotes/docker/resolver.go, Resolve) does find it there: after a 404 from every host it
// HEADs /blobs/<digest>, unless a host answered with an error of higher priority (a 5xx, a 401
// or 403). But the pull then fetches the manifest (core/remotes/docker/fetcher.go,
// dockerFetcher.Fetch), which reads manifest and index media types from /manifests/ only, in
// every containerd release (1.7, 2.x): the fetch gets the same 404 and the pull fails, unless
// the node's content store holds that manifest already. (A blob answered as
// application/octet-stream is fetched from /blobs/, and then fails as a root descriptor of an
// unknown media type.) So the webhook asks /manifests/ only and answers as the node does: not
// found, or, when a mirror failed, unverifiable, without a request to /blobs/.
func TestDigestOnlyUnderBlobs(t *testing.T) {
	tests := map[string]struct {
		// ref is the reference after the repository: "@DIGEST" or ":v1".
		ref string
		// mirror puts a mirror before the registry, answering manifest requests with that
		// status (0: no mirror; 404: a mirror without the image).
		mirror  int
		outcome Outcome
		class   Class
		words   []string
	}{
		"by digest, the registry alone": {ref: "@DIGEST", outcome: NotPullable, class: ClassDigestNotFound,
			words: []string{"digest sha256:", "not found in blobs.example.com/team/app", "404 MANIFEST_UNKNOWN"}},
		"by digest, after a mirror without it": {ref: "@DIGEST", mirror: http.StatusNotFound, outcome: NotPullable, class: ClassDigestNotFound},
		"by digest, after a mirror answering 503": {ref: "@DIGEST", mirror: http.StatusServiceUnavailable, outcome: Unverifiable, class: ClassRegistryUnavailable,
			words: []string{"registry mirror.example.com (the nodes' mirror of blobs.example.com) unavailable"}},
		"by tag": {ref: ":v1", outcome: NotPullable, class: ClassTagNotFound,
			words: []string{`tag "v1" not found in blobs.example.com/team/app`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			reg := startBlobsOnly(t, e, "blobs.example.com")
			opts := e.options()
			if tc.mirror != 0 {
				mirror := e.registry(testregistry.Config{}, "mirror.example.com")
				if tc.mirror != http.StatusNotFound {
					mirror.SetFault(testregistry.Fault{Status: tc.mirror})
				}
				opts.Mirrors = map[string][]Mirror{"blobs.example.com": {{Host: "mirror.example.com"}}}
			}
			image := "blobs.example.com/team/app" + strings.Replace(tc.ref, "DIGEST", reg.digest, 1)
			v := e.checker(opts).Check(ctxTimeout(t, 10*time.Second), Request{Image: image})
			assertVerdict(t, v, tc.outcome, tc.class, tc.words, nil)
			if n := reg.manifests.Load(); n == 0 {
				t.Error("no manifest request reached the registry")
			}
			if n := reg.blobs.Load(); n != 0 {
				t.Errorf("%d requests to /blobs/<digest>, want none", n)
			}
			if refused := e.net.Refused(); len(refused) > 0 {
				t.Errorf("dials to non-loopback addresses were attempted: %v", refused)
			}
		})
	}
}

// blobsOnly is a registry that lost a manifest's entry under /manifests/ but still serves its
// bytes under /blobs/<digest>, with the manifest's media type: the registry containerd's
// resolver falls back to /blobs/ for.
type blobsOnly struct {
	manifest         []byte
	digest           string
	manifests, blobs atomic.Int64
}

// startBlobsOnly serves a blobsOnly registry with a TLS certificate of the env's CA, reachable
// as host on the env's network.
func startBlobsOnly(t *testing.T, e *env, host string) *blobsOnly {
	t.Helper()
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("1", 64) + `","size":2},"layers":[]}`)
	sum := sha256.Sum256(manifest)
	b := &blobsOnly{manifest: manifest, digest: "sha256:" + hex.EncodeToString(sum[:])}
	serveTLS(t, e.ca, e.net, b, host)
	return b
}

func (b *blobsOnly) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v2/":
		w.WriteHeader(http.StatusOK)
	case strings.HasSuffix(r.URL.Path, "/blobs/"+b.digest):
		b.blobs.Add(1)
		w.Header().Set("Content-Type", string(types.OCIManifestSchema1))
		w.Header().Set("Docker-Content-Digest", b.digest)
		w.Header().Set("Content-Length", fmt.Sprint(len(b.manifest)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(b.manifest)
		}
	case strings.Contains(r.URL.Path, "/manifests/"):
		b.manifests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}`)
	}
}
