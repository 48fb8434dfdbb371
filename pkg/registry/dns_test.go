package registry

import (
	"strings"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/testregistry"
	"github.com/pullguard/pullguard/pkg/registry/reference"
)

// TestDNSMessages: a host the webhook cannot resolve is Unverifiable, and the message blames the
// image's name only when the name is the likely cause (a single-label host, a typo of a
// well-known registry). Every other host is named as the webhook's problem: the nodes resolve
// names with their own DNS. Names are resolved by the test network only; unknown ones fail as
// NXDOMAIN.
func TestDNSMessages(t *testing.T) {
	tests := map[string]struct {
		image string
		// mirror declares mirror.internal (unresolvable) for docker.io and serves Docker Hub.
		mirror bool
		words  []string
		// notWords must not appear in the message.
		notWords []string
	}{
		"Docker Hub's registry host": {image: "nginx:1.27",
			words: []string{`Docker Hub's registry host "registry-1.docker.io" (where the nodes pull docker.io images) could not be resolved from the admission webhook while checking docker.io/library/nginx:1.27`,
				"not verified", "let the webhook resolve and reach registry-1.docker.io"},
			notWords: []string{"check the registry host name", "ErrImagePull", "did you mean"}},
		"a well-known registry": {image: "ghcr.io/org/app:v1",
			words:    []string{`host "ghcr.io" could not be resolved from the admission webhook while checking ghcr.io/org/app:v1`, "the nodes use their own DNS"},
			notWords: []string{"ErrImagePull", "did you mean"}},
		"a mirror": {image: "nginx:1.999", mirror: true,
			words:    []string{`host "mirror.internal" (the nodes' mirror of docker.io) could not be resolved`, "let the webhook resolve and reach mirror.internal"},
			notWords: []string{"ErrImagePull", "did you mean"}},
		"a single-label host": {image: "registry:5000/team/app:v1",
			words: []string{`registry host "registry" could not be resolved from the admission webhook; pods will likely fail with ErrImagePull`,
				"single-label host name", "write the registry's fully qualified host name in the image"}},
		"a typo of docker.io": {image: "dokcer.io/library/nginx:1.27",
			words: []string{`registry host "dokcer.io" could not be resolved`, `did you mean "docker.io"?`}},
		"a typo of ghcr.io": {image: "ghrc.io/org/app:v1",
			words: []string{`did you mean "ghcr.io"?`}},
		"a typo of registry.k8s.io": {image: "registry.k8s.oi/pause:3.10",
			words: []string{`did you mean "registry.k8s.io"?`}},
		"a typo of gcr.io": {image: "gcr.oi/project/app:v1",
			notWords: []string{"did you mean"}},
		"any other host": {image: "reg.corp.example/team/app:v1",
			words:    []string{`registry host "reg.corp.example" could not be resolved from the admission webhook`, "if the nodes resolve reg.corp.example, give the webhook the same DNS view"},
			notWords: []string{"did you mean", "check the registry host name"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			opts := e.options()
			if tc.mirror {
				e.registry(testregistry.Config{}, "registry-1.docker.io")
				opts.Mirrors = map[string][]Mirror{"docker.io": {{Host: "mirror.internal"}}}
			}
			v := e.checker(opts).Check(ctxTimeout(t, 10*time.Second), Request{Image: tc.image})
			assertVerdict(t, v, Unverifiable, ClassDNSFailure, tc.words, nil)
			for _, w := range tc.notWords {
				if strings.Contains(v.Message(), w) {
					t.Errorf("message contains %q:\n%s", w, v.Message())
				}
			}
			if refused := e.net.Refused(); len(refused) > 0 {
				t.Errorf("dials to non-loopback addresses were attempted: %v", refused)
			}
		})
	}
}

// TestSimilarRegistries pins the typo rule: one edit for names of up to 6 characters, two beyond.
func TestSimilarRegistries(t *testing.T) {
	tests := map[string]struct {
		host string
		want []string
	}{
		"transposition":     {host: "dokcer.io", want: []string{"docker.io"}},
		"missing letter":    {host: "quy.io", want: []string{"quay.io"}},
		"one edit, short":   {host: "gcr.co", want: []string{"gcr.io"}},
		"two edits, short":  {host: "gcr.oi"},
		"unrelated":         {host: "reg.example.com"},
		"nearest wins":      {host: "gchr.io", want: []string{"gcr.io"}},
		"another TLD":       {host: "docker.com", want: []string{"docker.io"}},
		"registry.k8s typo": {host: "regsitry.k8s.io", want: []string{"registry.k8s.io"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := similarRegistries(tc.host)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("similarRegistries(%q) = %q, want %q", tc.host, got, tc.want)
			}
		})
	}
}

// TestDNSMessageHosts covers the hosts the loopback network cannot stage: a token service or a
// blob CDN on another host than the registry.
func TestDNSMessageHosts(t *testing.T) {
	tests := map[string]struct {
		image, host, mirror string
		detail, fix         string
	}{
		"Docker Hub's token service": {image: "nginx:1.27", host: "auth.docker.io",
			detail: `host "auth.docker.io" could not be resolved from the admission webhook while checking docker.io/library/nginx:1.27; the nodes use their own DNS; not verified`,
			fix:    "let the webhook resolve and reach auth.docker.io (its DNS, egress firewall and proxy rules)"},
		"a registry's token service": {image: "reg.example.com:5000/team/app:v1", host: "auth.example.com",
			detail: `host "auth.example.com" could not be resolved`, fix: "let the webhook resolve and reach auth.example.com"},
		"the image's host with a port": {image: "reg.example.com:5000/team/app:v1", host: "reg.example.com",
			detail: `registry host "reg.example.com" could not be resolved from the admission webhook; pods will likely fail with ErrImagePull`,
			fix:    "if the nodes resolve reg.example.com, give the webhook the same DNS view"},
		"a mirror named like the registry": {image: "reg.example.com/team/app:v1", host: "reg.example.com", mirror: "reg.example.com:5000",
			detail: `host "reg.example.com" (the nodes' mirror of reg.example.com)`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ref, err := reference.Parse(tc.image)
			if err != nil {
				t.Fatal(err)
			}
			p := &probe{ref: ref}
			detail, fix := p.dnsMessage(tc.host, tc.mirror)
			if !strings.Contains(detail, tc.detail) || !strings.Contains(fix, tc.fix) {
				t.Errorf("dnsMessage(%q) = %q, %q; want them to contain %q, %q", tc.host, detail, fix, tc.detail, tc.fix)
			}
		})
	}
}
