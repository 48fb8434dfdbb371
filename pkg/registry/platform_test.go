package registry

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullguard/pullguard/internal/testregistry"
)

// TestIndexCache: an index is fetched once per digest; later platform checks of the same
// content cost one HEAD, whatever the candidate platforms.
func TestIndexCache(t *testing.T) {
	e := newEnv(t)
	reg := tokenRegistry(t, e)
	pushIndex(t, reg, "team/multi:v1", plat("linux/amd64"), plat("linux/arm64"))
	// The HEAD path: the probe GETs nothing else (TestSinglePlatformCheck covers GET-first).
	opts := e.options()
	opts.SinglePlatformCheck = false
	c := e.checker(opts)
	kr := keyringOf(aliceSecret())
	for _, platforms := range [][]string{{"linux/amd64"}, {"linux/arm64"}, {"linux/amd64", "linux/arm64"}} {
		v := c.Check(ctxTimeout(t, 5*time.Second), Request{Image: "reg.example.com/team/multi:v1", Keyring: kr, Platforms: ociPlats(platforms...)})
		assertVerdict(t, v, Pullable, ClassOK, nil, nil)
		if fmt.Sprint(v.Platforms) != fmt.Sprint(platforms) {
			t.Errorf("Platforms = %v, want %v", v.Platforms, platforms)
		}
	}
	if heads, gets := reg.Count(testregistry.KindManifestHead), reg.Count(testregistry.KindManifestGet); heads != 3 || gets != 1 {
		t.Errorf("manifest HEADs = %d, GETs = %d; want 3 HEADs and 1 GET", heads, gets)
	}
}

// TestSinglePlatformCheck: when candidate platforms are known and the registry does not meter
// GETs, the probe is one manifest GET instead of a HEAD, and a single-platform image's config
// blob is read once per digest; a compatible platform says nothing (an arm64 node runs arm/v7).
// Otherwise the probe is a HEAD and nothing more is read.
func TestSinglePlatformCheck(t *testing.T) {
	const image = "reg.example.com/team/armv7:v1"
	tests := map[string]struct {
		platforms                      [][]string // one check per entry
		skip                           []string
		disabled                       bool
		wantNotes                      []bool
		wantHeads, wantGets, wantBlobs int64
	}{
		"config read once per digest": {
			platforms: [][]string{{"linux/amd64"}, {"linux/amd64", "linux/arm64"}, {"linux/arm64"}},
			wantNotes: []bool{true, true, false}, wantGets: 3, wantBlobs: 1},
		"no candidate platforms": {
			platforms: [][]string{nil}, wantNotes: []bool{false}, wantHeads: 1},
		"skipped registry": {
			platforms: [][]string{{"linux/amd64"}}, skip: []string{"*.example.com"}, wantNotes: []bool{false}, wantHeads: 1},
		"disabled": {
			platforms: [][]string{{"linux/amd64"}}, disabled: true, wantNotes: []bool{false}, wantHeads: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			reg := tokenRegistry(t, e)
			pushPlatformImage(t, reg, "team/armv7:v1", "linux/arm/v7")
			opts := e.options()
			opts.SinglePlatformCheck, opts.SinglePlatformCheckSkip = !tc.disabled, tc.skip
			c := e.checker(opts)
			for i, platforms := range tc.platforms {
				v := c.Check(ctxTimeout(t, 5*time.Second), Request{Image: image, Keyring: keyringOf(aliceSecret()), Platforms: ociPlats(platforms...)})
				assertVerdict(t, v, Pullable, ClassOK, nil, nil)
				if got := len(v.Notes) > 0; got != tc.wantNotes[i] {
					t.Errorf("check %d (%v): notes %q, want a note: %v", i, platforms, v.Notes, tc.wantNotes[i])
				}
			}
			heads, gets, blobs := reg.Count(testregistry.KindManifestHead), reg.Count(testregistry.KindManifestGet), reg.Count(testregistry.KindOther)
			if heads != tc.wantHeads || gets != tc.wantGets || blobs != tc.wantBlobs {
				t.Errorf("manifest HEADs, GETs, blob GETs = %d, %d, %d; want %d, %d, %d", heads, gets, blobs, tc.wantHeads, tc.wantGets, tc.wantBlobs)
			}
		})
	}
}

// TestSinglePlatformCheckFailures: the check is optional, so a config blob the registry fails to
// serve leaves the verdict as it is, without a note, and a hanging one holds the check for one
// registry timeout, not the caller's whole deadline.
func TestSinglePlatformCheckFailures(t *testing.T) {
	tests := map[string]testregistry.Fault{
		"500":  {Blobs: true, Status: http.StatusInternalServerError},
		"hang": {Blobs: true, Hang: true},
	}
	for name, fault := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			reg := tokenRegistry(t, e)
			pushPlatformImage(t, reg, "team/armv7:v1", "linux/arm/v7")
			reg.SetFault(fault)
			opts := e.options()
			opts.Egress.ResponseHeaderTimeout = 200 * time.Millisecond
			start := time.Now()
			v := e.checker(opts).Check(ctxTimeout(t, 10*time.Second), Request{Image: "reg.example.com/team/armv7:v1", Keyring: keyringOf(aliceSecret()), Platforms: ociPlats("linux/amd64")})
			assertVerdict(t, v, Pullable, ClassOK, nil, nil)
			if len(v.Notes) > 0 {
				t.Errorf("notes %q, want none", v.Notes)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("check took %s; the config read must give up after one registry timeout", took)
			}
		})
	}
}

func TestSinglePlatformCheckSkipsDockerHubByDefault(t *testing.T) {
	e := newEnv(t)
	hub := e.registry(testregistry.Config{Auth: testregistry.AuthBearer, Public: []string{"myorg/app"}}, "index.docker.io", "registry-1.docker.io")
	pushPlatformImage(t, hub, "myorg/app:v1", "linux/arm64")
	opts := e.options()
	opts.SinglePlatformCheckSkip = DefaultOptions().SinglePlatformCheckSkip
	v := e.checker(opts).Check(ctxTimeout(t, 5*time.Second), Request{Image: "myorg/app:v1", Platforms: ociPlats("linux/amd64")})
	assertVerdict(t, v, Pullable, ClassOK, nil, nil)
	if len(v.Notes) > 0 || hub.Count(testregistry.KindManifestGet) != 0 {
		t.Errorf("Docker Hub image inspected: notes %q, %d manifest GETs", v.Notes, hub.Count(testregistry.KindManifestGet))
	}
}

func TestMatchPlatforms(t *testing.T) {
	tests := map[string]struct {
		children  []string // "" is a child without a platform
		nodes     []string
		matched   []string
		available []string
	}{
		"exact":                        {children: []string{"linux/amd64", "linux/arm64"}, nodes: []string{"linux/amd64"}, matched: []string{"linux/amd64"}, available: []string{"linux/amd64", "linux/arm64"}},
		"amd64 runs 386":               {children: []string{"linux/386"}, nodes: []string{"linux/amd64"}, matched: []string{"linux/amd64"}, available: []string{"linux/386"}},
		"386 does not run amd64":       {children: []string{"linux/amd64"}, nodes: []string{"linux/386"}, available: []string{"linux/amd64"}},
		"arm64 runs arm/v7":            {children: []string{"linux/arm/v7"}, nodes: []string{"linux/arm64"}, matched: []string{"linux/arm64"}, available: []string{"linux/arm/v7"}},
		"arm64/v8 runs arm64":          {children: []string{"linux/arm64"}, nodes: []string{"linux/arm64/v8"}, matched: []string{"linux/arm64"}, available: []string{"linux/arm64"}},
		"amd64 does not run amd64/v3":  {children: []string{"linux/amd64/v3"}, nodes: []string{"linux/amd64"}, available: []string{"linux/amd64/v3"}},
		"child without platform":       {children: []string{""}, nodes: []string{"linux/s390x"}, matched: []string{"linux/s390x"}},
		"attestation never matches":    {children: []string{"unknown/unknown"}, nodes: []string{"linux/amd64"}},
		"windows child for linux node": {children: []string{"windows/amd64"}, nodes: []string{"linux/amd64"}, available: []string{"windows/amd64"}},
		// Windows builds, as containerd's Windows matcher decides (node versions from the
		// node.kubernetes.io/windows-build label, image versions from the index).
		"windows 2019 node runs a 2019 image": {children: []string{"windows/amd64:10.0.17763.6054", "windows/amd64:10.0.20348.2582"},
			nodes: []string{"windows/amd64:10.0.17763"}, matched: []string{"windows(10.0.17763)/amd64"},
			available: []string{"windows(10.0.17763.6054)/amd64", "windows(10.0.20348.2582)/amd64"}},
		"windows 2019 node does not run a 2022 image": {children: []string{"windows/amd64:10.0.20348.2582"},
			nodes: []string{"windows/amd64:10.0.17763"}, available: []string{"windows(10.0.20348.2582)/amd64"}},
		"windows 2022 node does not run a 2019 image": {children: []string{"windows/amd64:10.0.17763.6054"},
			nodes: []string{"windows/amd64:10.0.20348"}, available: []string{"windows(10.0.17763.6054)/amd64"}},
		"windows 2025 node runs a 2022 image": {children: []string{"windows/amd64:10.0.20348.2582"},
			nodes: []string{"windows/amd64:10.0.26100"}, matched: []string{"windows(10.0.26100)/amd64"},
			available: []string{"windows(10.0.20348.2582)/amd64"}},
		"windows image without a version": {children: []string{"windows/amd64"}, nodes: []string{"windows/amd64:10.0.17763"},
			matched: []string{"windows(10.0.17763)/amd64"}, available: []string{"windows/amd64"}},
		"windows node without a build label": {children: []string{"windows/amd64:10.0.20348.2582"}, nodes: []string{"windows/amd64"},
			matched: []string{"windows/amd64"}, available: []string{"windows(10.0.20348.2582)/amd64"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var children []*v1.Platform
			for _, c := range tc.children {
				if c == "" {
					children = append(children, nil)
					continue
				}
				children = append(children, plat(c))
			}
			pm := matchPlatforms(children, normalizePlatforms(ociPlats(tc.nodes...)))
			if got := formatPlatforms(pm.matched); fmt.Sprint(got) != fmt.Sprint(orEmpty(tc.matched)) {
				t.Errorf("matched = %v, want %v", got, tc.matched)
			}
			if fmt.Sprint(orEmpty(pm.available)) != fmt.Sprint(orEmpty(tc.available)) {
				t.Errorf("available = %v, want %v", pm.available, tc.available)
			}
		})
	}
}
