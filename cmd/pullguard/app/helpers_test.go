package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullguard/pullguard/internal/testregistry"
)

const (
	testUser     = "ci"
	testPassword = "s3cr3t-never-printed"
)

// testRegistry is the shared loopback test registry (TLS, its own CA) with Basic
// authentication: the repositories given as public are anonymous, every other one wants
// testUser's credentials.
type testRegistry struct {
	r      *testregistry.Registry
	host   string
	caFile string
}

func newTestRegistry(t *testing.T, public ...string) *testRegistry {
	t.Helper()
	r, err := testregistry.New(testregistry.Config{Auth: testregistry.AuthBasic, Users: map[string]string{testUser: testPassword}, Public: public})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	ca, err := r.CA.WriteFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &testRegistry{r: r, host: r.Addr, caFile: ca}
}

// manifests counts the manifest requests the registry received.
func (r *testRegistry) manifests() int64 {
	return r.r.Count(testregistry.KindManifestGet) + r.r.Count(testregistry.KindManifestHead)
}

// push stores a small random image as each repo:tag (pushes are not counted).
func (r *testRegistry) push(t *testing.T, repoTags ...string) {
	t.Helper()
	for _, rt := range repoTags {
		img, err := testregistry.RandomImage()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.r.PushImage(rt, img); err != nil {
			t.Fatal(err)
		}
	}
}

// pushIndex stores a multi-platform index with one small image per platform (os/arch).
func (r *testRegistry) pushIndex(t *testing.T, repoTag string, platforms ...string) {
	t.Helper()
	var ps []*v1.Platform
	for _, p := range platforms {
		osName, arch, _ := strings.Cut(p, "/")
		ps = append(ps, &v1.Platform{OS: osName, Architecture: arch})
	}
	idx, err := testregistry.PlatformIndex(ps...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.r.PushIndex(repoTag, idx); err != nil {
		t.Fatal(err)
	}
}

// flags are the registry flags every check against the test registry needs.
func (r *testRegistry) flags() []string {
	return []string{"--allow-private-registries=127.0.0.1", "--registry-ca-file=" + r.caFile}
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
