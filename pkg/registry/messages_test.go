package registry

import "testing"

func TestNodeSelectorHint(t *testing.T) {
	tests := map[string]struct {
		matched, missing []string
		want             string
	}{
		"one arch":  {matched: []string{"linux/amd64"}, missing: []string{"linux/arm64"}, want: "add nodeSelector kubernetes.io/arch=amd64"},
		"two archs": {matched: []string{"linux/amd64", "linux/arm64"}, missing: []string{"linux/s390x"}, want: "add a required node affinity on kubernetes.io/arch in (amd64, arm64)"},
		"other OS":  {matched: []string{"linux/amd64"}, missing: []string{"windows/amd64"}, want: "add nodeSelector kubernetes.io/os=linux"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := nodeSelectorHint(ociPlats(tc.matched...), ociPlats(tc.missing...)); got != tc.want {
				t.Errorf("hint = %q, want %q", got, tc.want)
			}
		})
	}
}
