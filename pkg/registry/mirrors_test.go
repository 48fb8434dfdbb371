package registry

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/testregistry"
)

// TestMirrors follows containerd's hosts.toml (docs/pull-semantics.md §6.1, rules 41 and 42): the nodes try the
// mirrors in order, then the registry; the first host that serves the manifest decides, and
// requests to a mirror carry ?ns=<registry>.
func TestMirrors(t *testing.T) {
	type registries struct{ hub, mirror, cache *testregistry.Registry }
	tests := map[string]struct {
		image         string
		pullOnlyCache bool
		// mirrorAuth makes the first mirror demand credentials the webhook does not have.
		mirrorAuth bool
		fault      func(registries)
		outcome    Outcome
		class      Class
		words      []string
		// hubManifests is how many manifest requests reach Docker Hub itself (a 404 costs a
		// HEAD and the GET that reads its error code; a 503 one retry).
		hubManifests int64
	}{
		"rule 41 the mirror serves it; Docker Hub is never asked": {
			image: "nginx:1.27", outcome: Pullable, class: ClassOK},
		"rule 41 the mirror serves it while Docker Hub rate-limits": {
			image: "nginx:1.27", fault: func(r registries) { r.hub.SetFault(testregistry.Fault{Status: http.StatusTooManyRequests}) },
			outcome: Pullable, class: ClassOK},
		"the second mirror has what the first lacks": {
			image: "nginx:only-cache", outcome: Pullable, class: ClassOK},
		"only Docker Hub has it": {
			image: "nginx:only-hub", outcome: Pullable, class: ClassOK, hubManifests: 1},
		"nobody has it": {
			image: "nginx:1.999", outcome: NotPullable, class: ClassTagNotFound, hubManifests: 2,
			words: []string{`tag "1.999" not found in docker.io/library/nginx`}},
		"a mirror down and Docker Hub without the tag: the mirror may have it": {
			image: "nginx:1.999", fault: func(r registries) { r.mirror.SetFault(testregistry.Fault{Status: http.StatusServiceUnavailable}) },
			outcome: Unverifiable, class: ClassRegistryUnavailable, hubManifests: 2,
			words: []string{"registry mirror.example.com (the nodes' mirror of docker.io) unavailable"}},
		"rule 42 a pull-only mirror serves a digest": {
			image: "nginx@CACHE", pullOnlyCache: true, outcome: Pullable, class: ClassOK},
		"a mirror that wants credentials of its own, Docker Hub without the tag": {
			image: "nginx:1.999", mirrorAuth: true, outcome: Unverifiable, class: ClassNodeCredentials, hubManifests: 2,
			words: []string{"mirror.example.com (the nodes' mirror of docker.io) refused the webhook's request", "(401", "not verified"}},
		"a mirror that wants credentials of its own, Docker Hub has it": {
			image: "nginx:only-hub", mirrorAuth: true, outcome: Pullable, class: ClassOK, hubManifests: 1},
		"rule 42 a pull-only mirror is not asked to resolve a tag": {
			image: "nginx:only-cache", pullOnlyCache: true, outcome: NotPullable, class: ClassTagNotFound, hubManifests: 2},
		"rule 42 Docker Hub down, the tag only on a pull-only mirror": {
			image: "nginx:only-cache", pullOnlyCache: true,
			fault:   func(r registries) { r.hub.SetFault(testregistry.Fault{Status: http.StatusServiceUnavailable}) },
			outcome: Unverifiable, class: ClassRegistryUnavailable, hubManifests: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			var mirrorConfig testregistry.Config
			if tc.mirrorAuth {
				mirrorConfig = testregistry.Config{Auth: testregistry.AuthBasic, Users: map[string]string{"node": "secret"}}
			}
			r := registries{
				hub: e.registry(testregistry.Config{Auth: testregistry.AuthBearer, Service: "registry.docker.io", Public: []string{"library/nginx"}},
					"index.docker.io", "registry-1.docker.io"),
				mirror: e.registry(mirrorConfig, "mirror.example.com"),
				cache:  e.registry(testregistry.Config{}, "cache.example.com"),
			}
			push(t, r.hub, "library/nginx:1.27")
			push(t, r.hub, "library/nginx:only-hub")
			push(t, r.mirror, "library/nginx:1.27")
			cached := push(t, r.cache, "library/nginx:only-cache")
			image := strings.Replace(tc.image, "@CACHE", "@"+cached.String(), 1)
			if tc.fault != nil {
				tc.fault(r)
			}
			opts := e.options()
			opts.Mirrors = map[string][]Mirror{"docker.io": {{Host: "mirror.example.com"}, {Host: "cache.example.com", PullOnly: tc.pullOnlyCache}}}
			v := e.checker(opts).Check(ctxTimeout(t, 10*time.Second), Request{Image: image})
			assertVerdict(t, v, tc.outcome, tc.class, tc.words, nil)
			hub := r.hub.Count(testregistry.KindManifestHead) + r.hub.Count(testregistry.KindManifestGet)
			if hub != tc.hubManifests {
				t.Errorf("%d manifest requests reached Docker Hub, want %d", hub, tc.hubManifests)
			}
			for _, m := range []*testregistry.Registry{r.mirror, r.cache} {
				if ns := m.Namespaces(); len(ns) > 0 && !slices.Equal(ns, []string{"docker.io"}) {
					t.Errorf("a mirror saw ?ns=%q, want docker.io", ns)
				}
			}
			if ns := r.mirror.Namespaces(); !slices.Equal(ns, []string{"docker.io"}) {
				t.Errorf("the first mirror saw ?ns=%q, want docker.io", ns)
			}
		})
	}
}
