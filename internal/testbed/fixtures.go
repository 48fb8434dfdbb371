package testbed

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/pullguard/pullguard/internal/testregistry"
)

// Fixture repositories: demo/* is public on the token-auth registry, private/* needs credentials.
const (
	RepoWeb       = "demo/web"
	RepoMulti     = "demo/multi"
	RepoARM64Only = "demo/arm64-only"
	RepoPrivate   = "private/api"
)

// Images are the fixture references on one registry.
type Images struct {
	// Public is a linux/amd64 image anyone may pull (on the htpasswd registry: with credentials).
	Public string
	// TypoTag is Public's repository with a tag that was never pushed ("1.O" for "1.0").
	TypoTag string
	// Private needs credentials on both registries.
	Private string
	// Multi is an OCI index for linux/amd64 and linux/arm64.
	Multi string
	// ARM64Only is a Docker manifest list with only linux/arm64.
	ARM64Only string
	// ARM64Image is a single-platform image (no index) whose config says linux/arm64, as one
	// built on an arm64 laptop: it pulls anywhere and crashes on amd64 nodes.
	ARM64Image string
	// ToDelete is a tag of Public's repository meant to be deleted by a test (DeleteTag).
	ToDelete string
}

// The fixtures' platforms, in their configs as in their index entries.
var (
	linuxAMD64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	linuxARM64 = v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
)

// PushFixtures pushes every fixture with the pusher account and returns their references.
func PushFixtures(ctx context.Context, r *Registry, pusher Account) (Images, error) {
	imgs := Images{
		Public:     r.Ref(RepoWeb + ":1.0"),
		TypoTag:    r.Ref(RepoWeb + ":1.O"),
		Private:    r.Ref(RepoPrivate + ":1.0"),
		Multi:      r.Ref(RepoMulti + ":1.0"),
		ARM64Only:  r.Ref(RepoARM64Only + ":1.0"),
		ARM64Image: r.Ref(RepoARM64Only + ":single"),
		ToDelete:   r.Ref(RepoWeb + ":to-delete"),
	}
	amd64, err := testregistry.PlatformImage(linuxAMD64)
	if err != nil {
		return Images{}, err
	}
	arm64, err := testregistry.PlatformImage(linuxARM64)
	if err != nil {
		return Images{}, err
	}
	opts := r.RemoteOptions(ctx, pusher)
	for _, p := range []struct {
		ref string
		img v1.Image
	}{
		{imgs.Public, amd64},
		{imgs.ToDelete, amd64},
		{imgs.Private, amd64},
		{imgs.ARM64Image, arm64},
	} {
		if err := writeImage(p.ref, p.img, opts); err != nil {
			return Images{}, err
		}
	}
	multi := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd64, Descriptor: v1.Descriptor{Platform: &linuxAMD64}},
		mutate.IndexAddendum{Add: arm64, Descriptor: v1.Descriptor{Platform: &linuxARM64}},
	)
	armOnly := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.DockerManifestList),
		mutate.IndexAddendum{Add: arm64, Descriptor: v1.Descriptor{Platform: &linuxARM64}},
	)
	for _, p := range []struct {
		ref string
		idx v1.ImageIndex
	}{
		{imgs.Multi, multi},
		{imgs.ARM64Only, armOnly},
	} {
		ref, err := name.ParseReference(p.ref, name.StrictValidation)
		if err != nil {
			return Images{}, fmt.Errorf("parsing fixture reference %s: %w", p.ref, err)
		}
		if err := remote.WriteIndex(ref, p.idx, opts...); err != nil {
			return Images{}, fmt.Errorf("pushing fixture index %s: %w", p.ref, err)
		}
	}
	return imgs, nil
}

func writeImage(refStr string, img v1.Image, opts []remote.Option) error {
	ref, err := name.ParseReference(refStr, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("parsing fixture reference %s: %w", refStr, err)
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		return fmt.Errorf("pushing fixture %s: %w", refStr, err)
	}
	return nil
}

// DeleteTag removes a tag (only the tag: the manifest stays reachable by digest).
func (r *Registry) DeleteTag(ctx context.Context, ref string, a Account) error {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("parsing %s: %w", ref, err)
	}
	if err := remote.Delete(tag, r.RemoteOptions(ctx, a)...); err != nil {
		return fmt.Errorf("deleting tag %s: %w", ref, err)
	}
	return nil
}
