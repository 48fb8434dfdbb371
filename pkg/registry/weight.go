package registry

import (
	"unsafe"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// What a cache entry weighs, for the byte bounds of the verdict and index caches
// (Options.CacheBytes, IndexCacheBytes): the fixed size of its structs and the bytes of every
// string and list it holds, which is what a registry or a pod makes grow. An estimate of the
// heap it keeps, from above for the fixed part and exact for the variable one.

// entryWeight is what any entry costs besides its value: the cache's list element and map
// slot, the key's string header.
const entryWeight = 128

func stringsWeight(ss []string) int {
	n := int(unsafe.Sizeof("")) * len(ss)
	for _, s := range ss {
		n += len(s)
	}
	return n
}

// verdictWeight weighs a cached verdict under key.
func verdictWeight(key string, e *cacheEntry) int64 {
	v := e.verdict
	n := entryWeight + len(key) + int(unsafe.Sizeof(*e)) +
		len(v.Image) + len(v.Reference) + len(v.Digest) + len(v.Credential) + len(v.Detail) + len(v.Fix) +
		stringsWeight(v.Platforms) + stringsWeight(v.SimilarTags) + stringsWeight(v.Notes)
	return int64(n)
}

// platformWeight weighs one platform of the index cache, with its pointer.
func platformWeight(p *v1.Platform) int {
	n := int(unsafe.Sizeof(p))
	if p != nil {
		n += int(unsafe.Sizeof(*p)) + len(p.OS) + len(p.Architecture) + len(p.Variant) + len(p.OSVersion) +
			stringsWeight(p.OSFeatures) + stringsWeight(p.Features)
	}
	return n
}

// indexWeight weighs an index's cached platforms under key.
func indexWeight(key string, ic indexChildren) int64 {
	n := entryWeight + len(key) + int(unsafe.Sizeof(ic))
	for _, p := range ic.platforms {
		n += platformWeight(p)
	}
	return int64(n)
}

// configWeight weighs a single-platform image's cached platform under key.
func configWeight(key string, p *v1.Platform) int64 {
	return int64(entryWeight + len(key) + platformWeight(p))
}
