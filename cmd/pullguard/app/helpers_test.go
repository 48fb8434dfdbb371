package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const (
	testUser     = "ci"
	testPassword = "s3cr3t-never-printed"
)

// testRegistry is go-containerregistry's registry on a loopback port, over plain HTTP, that
// counts manifest requests and wants Basic credentials for repositories under private/.
type testRegistry struct {
	host      string
	manifests atomic.Int64
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	backend := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.Contains(req.URL.Path, "/manifests/") && (req.Method == http.MethodGet || req.Method == http.MethodHead) {
			r.manifests.Add(1)
		}
		if strings.HasPrefix(req.URL.Path, "/v2/private/") {
			if u, p, ok := req.BasicAuth(); !ok || u != testUser || p != testPassword {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
		}
		backend.ServeHTTP(w, req)
	}))
	srv.Listener = ln
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	r.host = ln.Addr().String()
	return r
}

// push stores a small random image as repo:tag, bypassing the counting and the credentials.
func (r *testRegistry) push(t *testing.T, repoTags ...string) {
	t.Helper()
	for _, rt := range repoTags {
		ref, err := name.ParseReference(r.host+"/"+rt, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: testUser, Password: testPassword}))); err != nil {
			t.Fatal(err)
		}
	}
	r.manifests.Store(0)
}

// pushIndex stores a multi-platform index with one small image per platform (os/arch).
func (r *testRegistry) pushIndex(t *testing.T, repoTag string, platforms ...string) {
	t.Helper()
	ref, err := name.ParseReference(r.host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	var adds []mutate.IndexAddendum
	for _, p := range platforms {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		osName, arch, _ := strings.Cut(p, "/")
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: osName, Architecture: arch}}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	if err := remote.WriteIndex(ref, idx, remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: testUser, Password: testPassword}))); err != nil {
		t.Fatal(err)
	}
	r.manifests.Store(0)
}

// flags are the registry flags every check against the test registry needs.
func (r *testRegistry) flags() []string {
	return []string{"--allow-private-registries=127.0.0.1", "--insecure-registries=" + r.host}
}

// dockerConfig writes a config.json with the test credentials for the registry.
func (r *testRegistry) dockerConfig(t *testing.T) string {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword))
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, r.host, auth)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pullSecretYAML is a dockerconfigjson Secret with the test credentials.
func (r *testRegistry) pullSecretYAML(name string) string {
	auth := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword))
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{\"auths\":{%q:{\"auth\":%q}}}'\n", name, r.host, auth)
}

func deploymentYAML(name, image string, extra ...string) string {
	spec := strings.Join(extra, "")
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
spec:
  selector:
    matchLabels: {app: %s}
  template:
    metadata:
      labels: {app: %s}
    spec:
%s      containers:
        - name: app
          image: %s
`, name, name, name, spec, image)
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs the CLI in process and returns its exit status, stdout and stderr.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := Main(ctx, args, IO{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}
