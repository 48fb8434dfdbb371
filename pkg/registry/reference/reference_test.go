package reference

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	dref "github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
)

var (
	hex64  = strings.Repeat("a", 64)
	hex96  = strings.Repeat("c", 96)
	hex128 = strings.Repeat("b", 128)
)

func TestParse(t *testing.T) {
	tests := map[string]struct {
		image string
		want  Reference // Original is filled in from image
		upper bool
	}{
		// docs/pull-semantics.md §1.2
		"single element gets docker.io and library/": {
			image: "nginx",
			want:  Reference{Repository: "docker.io/library/nginx", Domain: "docker.io", Path: "library/nginx", Pull: "docker.io/library/nginx:latest"},
		},
		"lowercase first element is a Docker Hub namespace": {
			image: "myorg/app",
			want:  Reference{Repository: "docker.io/myorg/app", Domain: "docker.io", Path: "myorg/app", Pull: "docker.io/myorg/app:latest"},
		},
		"docker.io without a namespace gets library/": {
			image: "docker.io/nginx",
			want:  Reference{Repository: "docker.io/library/nginx", Domain: "docker.io", Path: "library/nginx", Pull: "docker.io/library/nginx:latest"},
		},
		"library/ is explicit": {
			image: "library/nginx",
			want:  Reference{Repository: "docker.io/library/nginx", Domain: "docker.io", Path: "library/nginx", Pull: "docker.io/library/nginx:latest"},
		},
		"legacy index.docker.io is rewritten to docker.io": {
			image: "index.docker.io/x/y",
			want:  Reference{Repository: "docker.io/x/y", Domain: "docker.io", Path: "x/y", Pull: "docker.io/x/y:latest"},
		},
		"registry-1.docker.io is not an alias": {
			image: "registry-1.docker.io/library/nginx",
			want:  Reference{Repository: "registry-1.docker.io/library/nginx", Domain: "registry-1.docker.io", Path: "library/nginx", Pull: "registry-1.docker.io/library/nginx:latest"},
		},
		"localhost is always a domain": {
			image: "localhost/app",
			want:  Reference{Repository: "localhost/app", Domain: "localhost", Path: "app", Pull: "localhost/app:latest"},
		},
		"a first element with a dot that is no host name is still the host (found by FuzzParse)": {
			image: "my_registry.local/app",
			want:  Reference{Repository: "my_registry.local/app", Domain: "my_registry.local", Path: "app", Pull: "my_registry.local/app:latest"},
		},
		"localhost with a port": {
			image: "localhost:5000/app",
			want:  Reference{Repository: "localhost:5000/app", Domain: "localhost:5000", Path: "app", Pull: "localhost:5000/app:latest"},
		},
		"bare localhost:5000 is a Docker Hub image with tag 5000": {
			image: "localhost:5000",
			want:  Reference{Repository: "docker.io/library/localhost", Domain: "docker.io", Path: "library/localhost", Tag: "5000", Pull: "docker.io/library/localhost:5000"},
		},
		"uppercase first element is taken as a host (rule 2)": {
			image: "MyOrg/app",
			want:  Reference{Repository: "MyOrg/app", Domain: "MyOrg", Path: "app", Pull: "MyOrg/app:latest"},
			upper: true,
		},
		"uppercase host with a dot is a real host": {
			image: "Reg.Example.com/app",
			want:  Reference{Repository: "Reg.Example.com/app", Domain: "Reg.Example.com", Path: "app", Pull: "Reg.Example.com/app:latest"},
		},
		"double underscore is a legal separator": {
			image: "reg.example.com/foo__bar",
			want:  Reference{Repository: "reg.example.com/foo__bar", Domain: "reg.example.com", Path: "foo__bar", Pull: "reg.example.com/foo__bar:latest"},
		},
		// docs/pull-semantics.md §1.6
		"host with port, path and tag": {
			image: "reg.example.com:5000/team/app:v1",
			want:  Reference{Repository: "reg.example.com:5000/team/app", Domain: "reg.example.com:5000", Path: "team/app", Tag: "v1", Pull: "reg.example.com:5000/team/app:v1"},
		},
		"IPv6 host with port": {
			image: "[::1]:5000/app:v1",
			want:  Reference{Repository: "[::1]:5000/app", Domain: "[::1]:5000", Path: "app", Tag: "v1", Pull: "[::1]:5000/app:v1"},
		},
		"uppercase tag is legal": {
			image: "nginx:Stable_1.2-rc",
			want:  Reference{Repository: "docker.io/library/nginx", Domain: "docker.io", Path: "library/nginx", Tag: "Stable_1.2-rc", Pull: "docker.io/library/nginx:Stable_1.2-rc"},
		},
		// docs/pull-semantics.md rules 36/38/39 and §1.3
		"digest only": {
			image: "nginx@sha256:" + hex64,
			want:  Reference{Repository: "docker.io/library/nginx", Domain: "docker.io", Path: "library/nginx", Digest: "sha256:" + hex64, Pull: "docker.io/library/nginx@sha256:" + hex64},
		},
		"tag and digest: digest wins, tag ignored (rule 38)": {
			image: "nginx:1.27@sha256:" + hex64,
			want: Reference{Repository: "docker.io/library/nginx", Domain: "docker.io", Path: "library/nginx", Tag: "1.27", Digest: "sha256:" + hex64,
				Pull: "docker.io/library/nginx@sha256:" + hex64, TagIgnored: true},
		},
		"sha512 digest is valid for the kubelet (rule 39)": {
			image: "nginx@sha512:" + hex128,
			want:  Reference{Repository: "docker.io/library/nginx", Domain: "docker.io", Path: "library/nginx", Digest: "sha512:" + hex128, Pull: "docker.io/library/nginx@sha512:" + hex128},
		},
		"sha384 digest is valid for the kubelet": {
			image: "reg.example.com/app@sha384:" + hex96,
			want:  Reference{Repository: "reg.example.com/app", Domain: "reg.example.com", Path: "app", Digest: "sha384:" + hex96, Pull: "reg.example.com/app@sha384:" + hex96},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(tc.image)
			if err != nil {
				t.Fatalf("Parse(%q) = %v, want success", tc.image, err)
			}
			want := tc.want
			want.Original, want.Named = tc.image, normalizedNamed(t, tc.image)
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.image, *got, want)
			}
			if got.UppercaseHost() != tc.upper {
				t.Errorf("UppercaseHost() = %v, want %v", got.UppercaseHost(), tc.upper)
			}
			wantAlgorithm, _, _ := strings.Cut(want.Digest, ":")
			if got.DigestAlgorithm() != wantAlgorithm {
				t.Errorf("DigestAlgorithm() = %q, want %q", got.DigestAlgorithm(), wantAlgorithm)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := map[string]struct {
		image string
		// sentinel, when the parser has one, must be reachable with errors.Is.
		sentinel error
		keywords []string
	}{
		// docs/pull-semantics.md rule 1 and §1.6
		"uppercase repository (rule 1)":      {image: "Nginx:1", keywords: []string{"must be lowercase"}},
		"uppercase path after a host":        {image: "reg.example.com/App", keywords: []string{"must be lowercase"}},
		"uppercase host and path":            {image: "MyOrg/App", keywords: []string{"must be lowercase"}},
		"tag starting with '-' (rule 1)":     {image: "app:-x", sentinel: dref.ErrReferenceInvalidFormat, keywords: []string{"invalid reference format", `tag "-x"`, "must start with"}},
		"tag starting with '-'":              {image: "nginx:-bad", sentinel: dref.ErrReferenceInvalidFormat, keywords: []string{`tag "-bad"`}},
		"tag starting with '.'":              {image: "nginx:.bad", sentinel: dref.ErrReferenceInvalidFormat, keywords: []string{`tag ".bad"`}},
		"tag longer than 128":                {image: "nginx:" + strings.Repeat("t", 129), sentinel: dref.ErrReferenceInvalidFormat, keywords: []string{"longer than 128"}},
		"empty path component (rule 1)":      {image: "foo//bar", sentinel: dref.ErrReferenceInvalidFormat, keywords: []string{"path components", "no empty component"}},
		"component starting with '-'":        {image: "foo/-bar", sentinel: dref.ErrReferenceInvalidFormat, keywords: []string{"path components"}},
		"double dot":                         {image: "foo..bar", sentinel: dref.ErrReferenceInvalidFormat, keywords: []string{"path components"}},
		"trailing underscore":                {image: "foo/bar_", sentinel: dref.ErrReferenceInvalidFormat, keywords: []string{"path components"}},
		"short digest (rule 1)":              {image: "repo@sha256:abc", sentinel: dref.ErrReferenceInvalidFormat, keywords: []string{`digest "sha256:abc"`, "32 hex digits"}},
		"64-hex identifier (rule 1)":         {image: hex64, keywords: []string{"cannot specify 64-byte hexadecimal strings"}},
		"unsupported digest algorithm":       {image: "nginx@md5:" + strings.Repeat("c", 32), sentinel: digest.ErrDigestUnsupported, keywords: []string{`unsupported digest algorithm "md5"`}},
		"sha512 with a sha256-sized encoded": {image: "nginx@sha512:" + hex64, sentinel: digest.ErrDigestInvalidLength, keywords: []string{"wrong length for sha512"}},
		"uppercase hex in a sha256 digest":   {image: "nginx@sha256:" + strings.ToUpper(hex64), sentinel: digest.ErrDigestInvalidFormat, keywords: []string{"lowercase hex"}},
		"path longer than 255":               {image: "a/" + strings.Repeat("b", 300), sentinel: dref.ErrNameTooLong, keywords: []string{"longer than 255"}},
		"empty image":                        {image: "", sentinel: dref.ErrReferenceInvalidFormat, keywords: []string{"empty"}},
		// The API server rejects padded images only for pods (docs/pull-semantics.md §1.4); the kubelet parse fails for all.
		"leading whitespace":  {image: " nginx", sentinel: dref.ErrReferenceInvalidFormat, keywords: []string{"whitespace"}},
		"trailing whitespace": {image: "nginx:1\n", sentinel: dref.ErrReferenceInvalidFormat, keywords: []string{"whitespace"}},
		"inner whitespace":    {image: "ngi nx", sentinel: dref.ErrReferenceInvalidFormat, keywords: []string{"whitespace"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(tc.image)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tc.image, *got)
			}
			var invalid *InvalidError
			if !errors.As(err, &invalid) {
				t.Fatalf("Parse(%q) error %T, want *InvalidError", tc.image, err)
			}
			if invalid.Image != tc.image {
				t.Errorf("Image = %q, want %q", invalid.Image, tc.image)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.sentinel)
			}
			msg := err.Error()
			for _, kw := range append(tc.keywords, "is not a valid reference", "InvalidImageName") {
				if !strings.Contains(msg, kw) {
					t.Errorf("message %q lacks %q", msg, kw)
				}
			}
		})
	}
}

// The message of docs/pull-semantics.md rule 1, word for word.
func TestInvalidErrorMessage(t *testing.T) {
	_, err := Parse("Nginx:1")
	want := `image "Nginx:1" is not a valid reference: repository name must be lowercase (the kubelet would report InvalidImageName)`
	if err == nil || err.Error() != want {
		t.Fatalf("Parse(Nginx:1) error = %v, want %s", err, want)
	}
}

func TestGGCR(t *testing.T) {
	tests := map[string]struct {
		image string
		opts  []name.Option
		// want is the ggcr reference's String(), context its repository (ggcr's own Docker Hub name).
		want, context string
		unsupported   string // expected UnsupportedDigestError algorithm
		wantErr       bool
	}{
		"normalised name is handed over": {
			image: "nginx", want: "docker.io/library/nginx:latest", context: "index.docker.io/library/nginx",
		},
		"tag dropped before ggcr sees it": {
			image: "nginx:1.27@sha256:" + hex64, want: "docker.io/library/nginx@sha256:" + hex64, context: "index.docker.io/library/nginx",
		},
		"IPv6 host": {
			image: "[::1]:5000/app:v1", want: "[::1]:5000/app:v1", context: "[::1]:5000/app",
		},
		"insecure option passes through": {
			image: "localhost:5000/app", opts: []name.Option{name.Insecure}, want: "localhost:5000/app:latest", context: "localhost:5000/app",
		},
		// go-containerregistry v0.22.1 hashes sha512 (pkg/v1/hash.go Hasher) and validates digests with
		// go-digest (pkg/name/digest.go), so sha512 references are verifiable; see the package report.
		"sha512 is verifiable with ggcr v0.22": {
			image: "nginx@sha512:" + hex128, want: "docker.io/library/nginx@sha512:" + hex128, context: "index.docker.io/library/nginx",
		},
		"sha384 cannot be hashed by ggcr": {
			image: "nginx@sha384:" + hex96, unsupported: "sha384",
		},
		"uppercase host is rejected by ggcr": {
			image: "MyOrg/app", wantErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := Parse(tc.image)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.image, err)
			}
			got, err := r.GGCR(tc.opts...)
			var unsupported *UnsupportedDigestError
			switch {
			case tc.unsupported != "":
				if !errors.As(err, &unsupported) {
					t.Fatalf("GGCR() error = %v, want *UnsupportedDigestError", err)
				}
				if unsupported.Algorithm != tc.unsupported || unsupported.Reference != r.Pull {
					t.Errorf("UnsupportedDigestError = %+v", unsupported)
				}
				if !strings.Contains(err.Error(), tc.unsupported+" digests cannot be verified") {
					t.Errorf("message %q", err.Error())
				}
			case tc.wantErr:
				if err == nil || errors.As(err, &unsupported) {
					t.Fatalf("GGCR() = %v, %v; want a parse error", got, err)
				}
			default:
				if err != nil {
					t.Fatalf("GGCR(): %v", err)
				}
				if got.String() != tc.want || got.Context().String() != tc.context {
					t.Errorf("GGCR() = %q (context %q), want %q (context %q)", got.String(), got.Context().String(), tc.want, tc.context)
				}
			}
		})
	}
}

// normalizedNamed is the kubelet's normalised name of image, as distribution/reference gives it.
func normalizedNamed(t *testing.T, image string) string {
	t.Helper()
	named, err := dref.ParseNormalizedNamed(image)
	if err != nil {
		t.Fatalf("ParseNormalizedNamed(%q) = %v", image, err)
	}
	return named.String()
}

func TestNamed(t *testing.T) {
	tests := map[string]string{
		"nginx:1.25":                  "docker.io/library/nginx:1.25",
		"nginx":                       "docker.io/library/nginx",
		"team/app@sha256:" + hex64:    "docker.io/team/app@sha256:" + hex64,
		"nginx:1.27@sha256:" + hex64:  "docker.io/library/nginx:1.27@sha256:" + hex64,
		"reg.example.com:5000/app:v1": "reg.example.com:5000/app:v1",
	}
	for image, want := range tests {
		t.Run(image, func(t *testing.T) {
			ref, err := Parse(image)
			if err != nil {
				t.Fatal(err)
			}
			if ref.Named != want {
				t.Errorf("Named = %q, want %q", ref.Named, want)
			}
		})
	}
}
