package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// indexPlatforms returns the distinct platforms of an image index's first MaxIndexChildren
// children (nil for a child without a platform field) and how many children the index lists.
// An index's content is fixed by its digest, so the list is fetched at most once per digest
// (one GET by digest) and then served from the cache, which holds only the distinct platforms
// and weighs them (Options.IndexCacheBytes).
func (c *Checker) indexPlatforms(ctx context.Context, p *remote.Puller, repo name.Repository, digest v1.Hash, manifest []byte) (indexChildren, error) {
	key := digest.String()
	if v, ok := c.indexes.Get(key); ok {
		return v.(indexChildren), nil
	}
	if manifest == nil {
		d, err := p.Get(ctx, repo.Digest(key))
		if err != nil {
			return indexChildren{}, err
		}
		manifest = d.Manifest
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(manifest))
	if err != nil {
		return indexChildren{}, fmt.Errorf("parsing image index %s: %w", key, err)
	}
	children := indexChildren{total: len(im.Manifests)}
	seen := map[string]bool{}
	for _, m := range im.Manifests[:min(len(im.Manifests), c.opts.Limits.MaxIndexChildren)] {
		k := "" // a child without a platform
		if m.Platform != nil {
			k = platformKey(m.Platform)
		}
		if !seen[k] {
			seen[k] = true
			children.platforms = append(children.platforms, m.Platform)
		}
	}
	children.read = min(len(im.Manifests), c.opts.Limits.MaxIndexChildren)
	c.indexes.Add(key, children, indexWeight(key, children), 0)
	return children, nil
}

// indexChildren is what the engine keeps of an index: the distinct platforms of the children
// it read, and how many it read of how many.
type indexChildren struct {
	platforms   []*v1.Platform
	read, total int
}

func (ic indexChildren) truncated() bool { return ic.read < ic.total }

// platformKey is every field the matcher reads, for de-duplication.
func platformKey(p *v1.Platform) string {
	return strings.Join([]string{p.OS, p.Architecture, p.Variant, p.OSVersion, strings.Join(p.OSFeatures, ",")}, "\x00")
}

// imagePlatform returns the platform a single-platform image's config names (nil when it names
// none), from its manifest and config blob. Like an index's list, it is read at most once per
// digest.
func (c *Checker) imagePlatform(ctx context.Context, p *remote.Puller, repo name.Repository, digest v1.Hash, manifest []byte) (*v1.Platform, error) {
	// A manifest digest never equals an index digest, but the key says which list this is.
	key := "config " + digest.String()
	if v, ok := c.indexes.Get(key); ok {
		return v.(*v1.Platform), nil
	}
	m, err := v1.ParseManifest(bytes.NewReader(manifest))
	if err != nil {
		return nil, fmt.Errorf("parsing image manifest %s: %w", digest, err)
	}
	layer, err := p.Layer(ctx, repo.Digest(m.Config.Digest.String()))
	if err != nil {
		return nil, err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// Read to the end: the reader checks the blob against its digest at EOF.
	body, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("reading image config %s: %w", m.Config.Digest, err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parsing image config %s: %w", m.Config.Digest, err)
	}
	var plat *v1.Platform
	if cf.OS != "" && cf.Architecture != "" {
		plat = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}
	}
	c.indexes.Add(key, plat, configWeight(key, plat), 0)
	return plat, nil
}

// platformMatch is the outcome of matching candidate node platforms against an index.
type platformMatch struct {
	matched, missing []ocispec.Platform
	// available lists the index's runnable platforms, for messages.
	available []string
}

// matchPlatforms applies containerd's selection (platforms.Only: an amd64 node also runs 386,
// arm64 runs arm/v8…v5, names are normalised) to each candidate. A child without a platform
// matches every node, as containerd's FilterPlatforms keeps it; unknown/unknown children
// (buildx attestation manifests) never match.
func matchPlatforms(children []*v1.Platform, candidates []ocispec.Platform) platformMatch {
	var pm platformMatch
	seen := make(map[string]bool, len(children))
	for _, child := range children {
		if child == nil || unknownPlatform(child) {
			continue
		}
		if s := formatPlatform(ociPlatform(child)); !seen[s] {
			seen[s] = true
			pm.available = append(pm.available, s)
		}
	}
	for _, cand := range candidates {
		m := platforms.Only(cand)
		ok := slices.ContainsFunc(children, func(child *v1.Platform) bool {
			return child == nil || (!unknownPlatform(child) && m.Match(ociPlatform(child)) && windowsBuildRuns(cand, child.OSVersion))
		})
		if ok {
			pm.matched = append(pm.matched, cand)
		} else {
			pm.missing = append(pm.missing, cand)
		}
	}
	return pm
}

// windowsBuildRuns is the Windows half of containerd's matcher, which go-containerregistry's and
// containerd's matchers on Linux leave out (containerd/platforms defaults_windows.go and
// platform_compat_windows.go, built only on Windows, hence this port): a Windows node runs an
// image whose os.version has its major and minor version and, before Windows Server 2022
// (build 20348), its build; from 2022 on, any build from 20348 up to its own. A node or image
// without a version (an unlabelled node, a HostProcess image) matches.
func windowsBuildRuns(node ocispec.Platform, imageOSVersion string) bool {
	if node.OS != "windows" || node.OSVersion == "" || imageOSVersion == "" {
		return true
	}
	host, ctr := windowsVersion(node.OSVersion), windowsVersion(imageOSVersion)
	if host.major != ctr.major || host.minor != ctr.minor {
		return false
	}
	const ltsc2022 = 20348
	if host.build < ltsc2022 {
		return host.build == ctr.build
	}
	return ctr.build >= ltsc2022 && ctr.build <= host.build
}

type windowsOSVersion struct{ major, minor, build int }

// windowsVersion reads major.minor.build[.revision]; what does not parse is 0, as in containerd.
func windowsVersion(v string) windowsOSVersion {
	parts := strings.Split(v, ".")
	if len(parts) < 3 {
		return windowsOSVersion{}
	}
	major, _ := strconv.Atoi(parts[0])
	minor, _ := strconv.Atoi(parts[1])
	build, _ := strconv.Atoi(parts[2])
	return windowsOSVersion{major: major, minor: minor, build: build}
}

// formatPlatform is platforms.Format, with the OS version where a Windows build decides.
func formatPlatform(p ocispec.Platform) string {
	if p.OS == "windows" && p.OSVersion != "" {
		return platforms.FormatAll(p)
	}
	return platforms.Format(p)
}

func unknownPlatform(p *v1.Platform) bool {
	return p.OS == "unknown" || p.Architecture == "unknown"
}

func ociPlatform(p *v1.Platform) ocispec.Platform {
	return ocispec.Platform{
		OS:           p.OS,
		Architecture: p.Architecture,
		Variant:      p.Variant,
		OSVersion:    p.OSVersion,
		OSFeatures:   p.OSFeatures,
	}
}

// UniquePlatforms returns ps without duplicates, in a stable order (platforms.FormatAll): the
// form candidate platforms take everywhere, since they are part of the verdict cache key. It
// does not normalise: containerd's Normalize would give a node labelled arm the variant v7.
func UniquePlatforms(ps []ocispec.Platform) []ocispec.Platform {
	if len(ps) == 0 {
		return nil
	}
	out := slices.Clone(ps)
	slices.SortStableFunc(out, comparePlatforms)
	return slices.CompactFunc(out, func(a, b ocispec.Platform) bool { return comparePlatforms(a, b) == 0 })
}

func comparePlatforms(a, b ocispec.Platform) int {
	return strings.Compare(platforms.FormatAll(a), platforms.FormatAll(b))
}

// normalizePlatforms is the candidates as the Checker matches them: normalised (x86_64 is
// amd64), then unique.
func normalizePlatforms(in []ocispec.Platform) []ocispec.Platform {
	out := make([]ocispec.Platform, len(in))
	for i, p := range in {
		out[i] = platforms.Normalize(p)
	}
	if len(out) == 1 {
		// Unique already (one check per image of an admission normalises the same few).
		return out
	}
	return UniquePlatforms(out)
}

func formatPlatforms(ps []ocispec.Platform) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = formatPlatform(p)
	}
	return out
}

// singlePlatformNote warns about a single-platform image built for a platform the candidate
// nodes do not run (docs/pull-semantics.md rule 31): the pull succeeds and the container then fails with exec
// format error, a CrashLoopBackOff rather than an ImagePullBackOff, but just as much a broken
// deploy (an image built on an arm64 laptop for an amd64 cluster). The check is optional, so
// any failure to read the config says nothing.
func (c *Checker) singlePlatformNote(ctx context.Context, p *probe, res resolved) string {
	if res.manifest == nil || (res.desc.MediaType != types.DockerManifestSchema2 && res.desc.MediaType != types.OCIManifestSchema1) {
		// Without the body (a HEAD: the registry meters GETs) the check would cost a GET.
		return ""
	}
	// The verdict is known already: a registry slow to serve the blob must not hold the
	// admission for its whole budget, so the read gets one registry timeout (--registry-timeout).
	ctx, cancel := context.WithTimeout(ctx, c.opts.Egress.ResponseHeaderTimeout)
	defer cancel()
	plat, err := c.imagePlatform(ctx, res.puller.Puller, res.ref.Context(), res.desc.Digest, res.manifest)
	if err != nil || plat == nil {
		return ""
	}
	return singlePlatformMessage(plat, p.platforms)
}
