package testregistry

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// pushHost is a placeholder host for in-process pushes: the handler transport never dials.
const pushHost = "push.invalid"

// handlerTransport serves requests straight from the backend handler, so fixtures are pushed
// without authentication, faults or counting.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// The handler expects a server-side request, whose Body is never nil.
	in := req.Clone(req.Context())
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// pushable is an image or an index.
type pushable interface {
	remote.Taggable
	Digest() (v1.Hash, error)
}

// push stores t, with everything it references, as repoTag and returns its digest.
func (r *Registry) push(repoTag string, t pushable) (v1.Hash, error) {
	ref, err := name.ParseReference(pushHost + "/" + repoTag)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("parsing %q: %w", repoTag, err)
	}
	if err := remote.Push(ref, t, remote.WithTransport(handlerTransport{r.backend})); err != nil {
		return v1.Hash{}, fmt.Errorf("pushing %s: %w", repoTag, err)
	}
	return t.Digest()
}

// PushImage stores img as repoTag ("team/app:v1") and returns its digest.
func (r *Registry) PushImage(repoTag string, img v1.Image) (v1.Hash, error) {
	return r.push(repoTag, img)
}

// PushIndex stores idx (and its children) as repoTag and returns its digest.
func (r *Registry) PushIndex(repoTag string, idx v1.ImageIndex) (v1.Hash, error) {
	return r.push(repoTag, idx)
}

// PushManifest stores a raw manifest body with mediaType under repo:tag (e.g. a schema 1
// manifest no client would write) and returns its digest.
func (r *Registry) PushManifest(repo, tag string, mediaType types.MediaType, body []byte) (v1.Hash, error) {
	req := httptest.NewRequest(http.MethodPut, "/v2/"+repo+"/manifests/"+tag, bytes.NewReader(body))
	req.Header.Set("Content-Type", string(mediaType))
	rec := httptest.NewRecorder()
	r.backend.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		return v1.Hash{}, fmt.Errorf("pushing manifest %s:%s: status %d: %s", repo, tag, rec.Code, rec.Body.String())
	}
	h, _, err := v1.SHA256(bytes.NewReader(body))
	return h, err
}

// RandomImage returns a small random single-platform image.
func RandomImage() (v1.Image, error) {
	img, err := random.Image(64, 1)
	if err != nil {
		return nil, fmt.Errorf("building random image: %w", err)
	}
	return img, nil
}

// PlatformImage returns a small random image whose config names platform p, as a builder
// writes it.
func PlatformImage(p v1.Platform) (v1.Image, error) {
	img, err := RandomImage()
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading random image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant, cf.OSVersion = p.OS, p.Architecture, p.Variant, p.OSVersion
	return mutate.ConfigFile(img, cf)
}

// PlatformIndex returns an OCI index with one small random image per platform; a nil platform
// makes a child without a platform field.
func PlatformIndex(platforms ...*v1.Platform) (v1.ImageIndex, error) {
	adds := make([]mutate.IndexAddendum, 0, len(platforms))
	for _, p := range platforms {
		img, err := RandomImage()
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: p}})
	}
	return mutate.AppendManifests(empty.Index, adds...), nil
}
