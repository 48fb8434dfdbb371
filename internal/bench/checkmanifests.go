package bench

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"sigs.k8s.io/yaml"

	pullguard "github.com/pullguard/pullguard/cmd/pullguard/app"
	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/pkg/registry/egress"
)

// CheckManifestsResult compares `pullguard check` of many manifests that share few images,
// each run a fresh process's engine, against one bare authenticated HEAD per distinct image
// (fresh transport, as many at once as check's default --max-concurrent-checks): the request
// floor of the same question.
type CheckManifestsResult struct {
	Manifests, Images int
	// Requests reached the registry during the first check, for the images' repositories.
	Requests    testbed.Requests
	Check, Head Latencies
}

// Ratio is the check's median over the bare HEADs' median.
func (r CheckManifestsResult) Ratio() float64 { return ratio(r.Check.P50(), r.Head.P50()) }

// checkConcurrency is pullguard check's default --max-concurrent-checks.
const checkConcurrency = 16

// MeasureCheckManifests pushes images new private images, writes manifests Deployments that
// use them in turn, and alternates, iterations times, a `pullguard check` of them all (with the
// reader's login as --docker-config) and one bare HEAD per image.
func (c *Cluster) MeasureCheckManifests(ctx context.Context, manifests, images, iterations int) (CheckManifestsResult, error) {
	res := CheckManifestsResult{Manifests: manifests, Images: images}
	refs, repos, err := c.freshImages(ctx, "check", images)
	if err != nil {
		return res, err
	}
	dir, cleanup, err := tempDir("pullguard-bench-check-")
	if err != nil {
		return res, err
	}
	defer cleanup()
	var docs []string
	for i := range manifests {
		y, err := yaml.Marshal(Deployment("team", fmt.Sprintf("web-%d", i), []string{refs[i%images]}))
		if err != nil {
			return res, fmt.Errorf("encoding a deployment: %w", err)
		}
		docs = append(docs, string(y))
	}
	// Ten files of several documents each, as a rendered chart or kustomization would be.
	per := (manifests + 9) / 10
	for f := 0; f*per < manifests; f++ {
		part := docs[f*per : min((f+1)*per, manifests)]
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%d.yaml", f)), []byte(strings.Join(part, "---\n")), 0o600); err != nil {
			return res, fmt.Errorf("writing the manifests: %w", err)
		}
	}
	login := filepath.Join(dir, "config.json")
	auth := base64.StdEncoding.EncodeToString([]byte(testbed.Reader.Username + ":" + testbed.Reader.Password))
	if err := os.WriteFile(login, fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, c.Bed.Registry.Host, auth), 0o600); err != nil {
		return res, fmt.Errorf("writing the login: %w", err)
	}
	args := []string{"check", "-f", dir, "--platform", "linux/amd64", "--docker-config", login,
		"--allow-private-registries=127.0.0.1,localhost", "--registry-ca-file=" + c.Bed.LoopbackCAFile()}
	check := func() (time.Duration, error) {
		start := time.Now()
		code := pullguard.Main(ctx, args, pullguard.IO{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
		took := time.Since(start)
		if code != 0 {
			return 0, fmt.Errorf("pullguard check of %d manifests: exit %d", manifests, code)
		}
		return took, nil
	}
	parsed := make([]name.Reference, len(refs))
	for i, r := range refs {
		if parsed[i], err = name.ParseReference(r, name.StrictValidation); err != nil {
			return res, fmt.Errorf("parsing %s: %w", r, err)
		}
	}
	readerAuth := authn.FromConfig(authn.AuthConfig{Username: testbed.Reader.Username, Password: testbed.Reader.Password})
	head := func() (time.Duration, error) {
		rt, err := egress.New(engineOptions(c.Bed.LoopbackCAFile()).Egress, nil)
		if err != nil {
			return 0, fmt.Errorf("building the guarded transport: %w", err)
		}
		var mu sync.Mutex
		var first error
		start := time.Now()
		c.fanOut(len(parsed), checkConcurrency, func(i int) {
			if _, err := remote.Head(parsed[i], remote.WithContext(ctx), remote.WithTransport(rt), remote.WithAuth(readerAuth)); err != nil {
				mu.Lock()
				first = cmpErr(first, fmt.Errorf("bare HEAD of %s: %w", parsed[i], err))
				mu.Unlock()
			}
		})
		return time.Since(start), first
	}
	for i := range iterations + 1 {
		before := c.requests(repos)
		a, err := check()
		if err != nil {
			return res, err
		}
		if i == 0 {
			res.Requests = sub(c.requests(repos), before)
		}
		b, err := head()
		if err != nil {
			return res, err
		}
		if i == 0 {
			continue // the first run also counts what reaches the registry
		}
		res.Check, res.Head = append(res.Check, a), append(res.Head, b)
	}
	return res, nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
