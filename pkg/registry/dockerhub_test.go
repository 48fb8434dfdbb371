package registry

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/internal/testregistry"
)

// TestDockerHubHost: a docker.io image is asked of registry-1.docker.io, containerd's default
// host for docker.io (core/remotes/docker/config/hosts.go), after the mirrors, and never of
// index.docker.io; the credentials are still the ones the kubelet matches against docker.io
// names, whichever of its Docker Hub keys the secret uses. Docker Hub lives only under
// registry-1.docker.io on the test network, so a request to index.docker.io fails to resolve.
func TestDockerHubHost(t *testing.T) {
	tests := map[string]struct {
		image string
		// key is the auths key of the pod's one secret ("": no secret, an anonymous pull).
		key        string
		mirror     bool
		outcome    Outcome
		class      Class
		credential string
		// hubRequests is whether Docker Hub itself receives manifest requests.
		hubRequests bool
	}{
		"a public image, anonymously": {
			image: "nginx:1.27", outcome: Pullable, class: ClassOK, credential: "anonymous", hubRequests: true},
		"a public image by digest": {
			image: "docker.io/library/nginx@DIGEST", outcome: Pullable, class: ClassOK, credential: "anonymous", hubRequests: true},
		"a private image, key docker.io": {
			image: "myorg/app:v1", key: "docker.io", outcome: Pullable, class: ClassOK, credential: `(key "docker.io")`, hubRequests: true},
		"a private image, key index.docker.io": {
			image: "myorg/app:v1", key: "index.docker.io", outcome: Pullable, class: ClassOK, credential: `(key "index.docker.io")`, hubRequests: true},
		"a private image, kubectl's key https://index.docker.io/v1/": {
			image: "myorg/app:v1", key: "https://index.docker.io/v1/", outcome: Pullable, class: ClassOK, credential: `(key "https://index.docker.io/v1/")`, hubRequests: true},
		"a private image written with index.docker.io": {
			image: "index.docker.io/myorg/app:v1", key: "docker.io", outcome: Pullable, class: ClassOK, credential: `(key "docker.io")`, hubRequests: true},
		"a private image without credentials": {
			image: "myorg/app:v1", outcome: NotPullable, class: ClassUnauthorized, credential: "anonymous", hubRequests: true},
		"the mirror first": {
			image: "nginx:1.27", mirror: true, outcome: Pullable, class: ClassOK, credential: "anonymous"},
		"the mirror lacks it, Docker Hub has it": {
			image: "myorg/app:v1", key: "docker.io", mirror: true, outcome: Pullable, class: ClassOK, credential: `(key "docker.io")`, hubRequests: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			hub := e.registry(testregistry.Config{
				Auth: testregistry.AuthBearer, Service: "registry.docker.io",
				Users:  map[string]string{"hubuser": "hubpass"},
				Public: []string{"library/nginx"},
			}, "registry-1.docker.io")
			digest := push(t, hub, "library/nginx:1.27")
			push(t, hub, "myorg/app:v1")
			opts := e.options()
			if tc.mirror {
				mirror := e.registry(testregistry.Config{}, "mirror.example.com")
				push(t, mirror, "library/nginx:1.27")
				opts.Mirrors = map[string][]Mirror{"docker.io": {{Host: "mirror.example.com"}}}
			}
			resolver := &recordingResolver{inner: e.net}
			opts.Egress.Resolver = resolver
			var secrets []corev1.Secret
			if tc.key != "" {
				secrets = append(secrets, dockerSecret("hubcred", map[string]entry{tc.key: {user: "hubuser", password: "hubpass"}}))
			}
			image := strings.Replace(tc.image, "DIGEST", digest.String(), 1)
			v := e.checker(opts).Check(ctxTimeout(t, 10*time.Second), Request{Image: image, Keyring: keyringOf(secrets...), TrustedCaller: true})
			assertVerdict(t, v, tc.outcome, tc.class, nil, nil)
			if !strings.Contains(v.Credential, tc.credential) {
				t.Errorf("credential = %q, want it to contain %q", v.Credential, tc.credential)
			}
			names := resolver.names()
			if slices.Contains(names, "index.docker.io") {
				t.Errorf("index.docker.io was looked up (%q); the nodes ask registry-1.docker.io", names)
			}
			hubRequests := hub.Count(testregistry.KindManifestHead)+hub.Count(testregistry.KindManifestGet) > 0
			if hubRequests != tc.hubRequests || hubRequests != slices.Contains(names, "registry-1.docker.io") {
				t.Errorf("manifest requests reached Docker Hub: %v, want %v (names looked up: %q)", hubRequests, tc.hubRequests, names)
			}
			if refused := e.net.Refused(); len(refused) > 0 {
				t.Errorf("dials to non-loopback addresses were attempted: %v", refused)
			}
		})
	}
}

// recordingResolver is the test network's resolver, noting every name looked up.
type recordingResolver struct {
	inner  *testregistry.Network
	mu     sync.Mutex
	looked []string
}

func (r *recordingResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.looked = append(r.looked, strings.TrimSuffix(host, ".")) // the guard looks names up rooted
	r.mu.Unlock()
	return r.inner.LookupNetIP(ctx, network, host)
}

func (r *recordingResolver) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.looked)
}
