package registry

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/testregistry"
)

func TestSimilarTags(t *testing.T) {
	tags := []string{"1.0", "1.1", "1.25", "1.26", "latest", "v2.3.1", "stable", "V9", "2.0", "2.1", "2.2", "2.3", strings.Repeat("a", 129) + "b"}
	tests := map[string]struct {
		want    string
		similar []string
	}{
		"letter O for zero":           {want: "1.O", similar: []string{"1.0"}},
		"letter l for one":            {want: "l.25", similar: []string{"1.25"}},
		"case":                        {want: "v9", similar: []string{"V9"}},
		"missing character":           {want: "stabe", similar: []string{"stable"}},
		"typo in a long tag":          {want: "lastest", similar: []string{"latest"}},
		"two edits in a long tag":     {want: "v2.3.10", similar: []string{"v2.3.1"}},
		"too far":                     {want: "1.999"},
		"two edits in a short tag":    {want: "3.O"},
		"the tag itself never counts": {want: "stable"},
		"two ties":                    {want: "1.x", similar: []string{"1.0", "1.1"}},
		"too many ties":               {want: "2.x"},
		"no tag is longer than 128":   {want: strings.Repeat("a", 128) + "b", similar: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := similarTags(tc.want, tags); !slices.Equal(got, tc.similar) {
				t.Errorf("similarTags(%q) = %q, want %q", tc.want, got, tc.similar)
			}
		})
	}
}

// TestTagSuggestion: a missing tag gets the nearest existing one as a hint, read with the
// credential that got the 404; a failing tag list only loses the hint. Tags read with a
// credential are only for a trusted caller; anonymous ones (a public repository) for anybody.
func TestTagSuggestion(t *testing.T) {
	tests := map[string]struct {
		image     string
		fault     *testregistry.Fault
		untrusted bool
		anonymous bool
		want      string // "" : no hint
	}{
		"typo, credential, untrusted caller": {image: "reg.example.com/team/app:1.O", untrusted: true},
		"typo, anonymous, untrusted caller":  {image: "reg.example.com/team/app:1.O", untrusted: true, anonymous: true, want: `did you mean "1.0"?`},
		"typo":                               {image: "reg.example.com/team/app:1.O", want: `did you mean "1.0"?`},
		"nothing close":                      {image: "reg.example.com/team/app:2.999"},
		"tag list fails":                     {image: "reg.example.com/team/app:1.O", fault: &testregistry.Fault{Blobs: true, Status: http.StatusInternalServerError}},
		"tag list hangs":                     {image: "reg.example.com/team/app:1.O", fault: &testregistry.Fault{Blobs: true, Hang: true}},
		"missing latest":                     {image: "reg.example.com/team/app"},
		"repository absent":                  {image: "reg.example.com/team/nope:1.O"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			reg := e.registry(testregistry.Config{Auth: testregistry.AuthBearer, Users: map[string]string{"alice": "right"}, Public: []string{"team/app"}}, "reg.example.com")
			push(t, reg, "team/app:1.0")
			push(t, reg, "team/app:2.0")
			if tc.fault != nil {
				reg.SetFault(*tc.fault)
			}
			opts := e.options()
			opts.Egress.ResponseHeaderTimeout = 200 * time.Millisecond
			req := Request{Image: tc.image, Keyring: keyringOf(aliceSecret()), TrustedCaller: !tc.untrusted}
			if tc.anonymous {
				req.Keyring = nil
			}
			v := e.checker(opts).Check(ctxTimeout(t, 10*time.Second), req)
			if v.Outcome != NotPullable {
				t.Fatalf("verdict %s/%s: %s", v.Outcome, v.Class, v.Message())
			}
			if got := v.Message(); (tc.want == "") != !strings.Contains(got, "did you mean") || !strings.Contains(got, tc.want) {
				t.Errorf("message %q, want hint %q", got, tc.want)
			}
		})
	}
}
