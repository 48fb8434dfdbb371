package reference

import (
	"errors"
	"testing"
)

// FuzzParse checks the invariants the engine relies on. Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, image string) {
		r, err := Parse(image)
		if err != nil {
			var invalid *InvalidError
			if !errors.As(err, &invalid) || invalid.Image != image || invalid.Reason == "" {
				t.Fatalf("Parse(%q) error %#v, want *InvalidError for the same image with a reason", image, err)
			}
			return
		}
		if r.Original != image {
			t.Fatalf("Original = %q, want %q", r.Original, image)
		}
		if r.Repository != r.Domain+"/"+r.Path {
			t.Fatalf("Repository %q is not Domain %q + Path %q", r.Repository, r.Domain, r.Path)
		}
		again, err := Parse(r.Pull)
		if err != nil {
			t.Fatalf("Pull %q of %q does not re-parse: %v", r.Pull, image, err)
		}
		if again.Pull != r.Pull || again.Repository != r.Repository || again.TagIgnored {
			t.Fatalf("Pull %q of %q re-parses to %+v", r.Pull, image, *again)
		}
		repo, err := Parse(r.Repository)
		if err != nil || repo.Repository != r.Repository {
			t.Fatalf("Repository %q of %q is not normalised: %+v, %v", r.Repository, image, repo, err)
		}
		if r.TagIgnored != (r.Tag != "" && r.Digest != "") {
			t.Fatalf("TagIgnored = %v with tag %q and digest %q", r.TagIgnored, r.Tag, r.Digest)
		}
		if _, err := r.GGCR(); err != nil {
			var unsupported *UnsupportedDigestError
			if errors.As(err, &unsupported) && unsupported.Algorithm != r.DigestAlgorithm() {
				t.Fatalf("UnsupportedDigestError for %q names %q", r.Pull, unsupported.Algorithm)
			}
		}
	})
}
