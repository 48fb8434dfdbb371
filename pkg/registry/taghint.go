package registry

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/agnivade/levenshtein"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// tagHint looks, after a definite "tag not found", for existing tags a typo away ("1.O" for
// "1.0", "lastest" for "latest") in the first page of the repository's tag list, read with the
// credential that got the 404, and returns them. Tags read with a credential are only for a
// trusted caller (Request.TrustedCaller). It is a hint: any failure means no hint, and the read
// gets one registry timeout, not the rest of the admission's budget.
func (c *Checker) tagHint(ctx context.Context, p *probe, failed []attempt) []string {
	i := slices.IndexFunc(failed, func(a attempt) bool {
		anonymous := a.cred == nil || a.cred.Anonymous()
		return a.puller != nil && a.f.hasCode(transport.ManifestUnknownErrorCode) && (anonymous || p.trustedCaller)
	})
	if i < 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Egress.ResponseHeaderTimeout)
	defer cancel()
	lister, err := failed[i].puller.Lister(ctx, failed[i].ref.Context())
	if err != nil || !lister.HasNext() {
		return nil
	}
	page, err := lister.Next(ctx)
	if err != nil {
		return nil
	}
	return similarTags(p.ref.TagOrLatest(), page.Tags)
}

// quoteTags is tags quoted for a message: "1.0" or "1.1".
func quoteTags(tags []string) string {
	quoted := make([]string, len(tags))
	for i, t := range tags {
		quoted[i] = strconv.Quote(t)
	}
	return joinOr(quoted)
}

// similarTags returns the existing tags that want is probably a typo of: the one tag equal to it
// but for case and look-alike characters ("1.O" for "1.0", "V1" for "v1"), else the tags at the
// smallest edit distance, if that is at most 1 for tags of up to 4 characters and 2 beyond, and
// they are at most 3.
func similarTags(want string, tags []string) []string {
	var lookAlike []string
	folded := foldLookAlikes(want)
	for _, t := range tags {
		if t != want && len(t) <= maxTagLength && foldLookAlikes(t) == folded {
			lookAlike = append(lookAlike, t)
		}
	}
	if len(lookAlike) == 1 {
		return lookAlike
	}
	maxDistance := 1
	if len(want) > 4 {
		maxDistance = 2
	}
	best := closest(want, tags, func(t string) int {
		if t == want || len(t) > maxTagLength {
			// A longer "tag" is no tag (and would cost a hostile registry's worth of CPU).
			return -1
		}
		return maxDistance
	})
	if len(best) > 3 {
		return nil
	}
	slices.Sort(best)
	return best
}

// closest returns the candidates at the smallest edit distance from want, among those within
// their maxDistance (a negative one leaves the candidate out before any distance is computed).
func closest(want string, candidates []string, maxDistance func(candidate string) int) []string {
	var best []string
	bestDistance := -1
	for _, c := range candidates {
		max := maxDistance(c)
		if max < 0 {
			continue
		}
		switch d := levenshtein.ComputeDistance(want, c); {
		case d > max:
		case bestDistance < 0 || d < bestDistance:
			best, bestDistance = []string{c}, d
		case d == bestDistance:
			best = append(best, c)
		}
	}
	return best
}

// maxTagLength is the longest tag the distribution grammar allows.
const maxTagLength = 128

// foldLookAlikes maps a tag to a form where case and the characters most often typed for one
// another (O and 0, l, I and 1) no longer differ.
func foldLookAlikes(s string) string {
	return lookAlikes.Replace(strings.ToLower(s))
}

var lookAlikes = strings.NewReplacer("o", "0", "l", "1", "i", "1")
