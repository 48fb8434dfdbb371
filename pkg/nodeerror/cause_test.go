package nodeerror

import "testing"

// The messages below are the node's text as the kubelet and containerd build it. Each case
// names the upstream file whose format strings it is assembled from:
//   - kubernetes pkg/kubelet/images/image_manager.go: `Failed to pull image %q: %v` (Event
//     reason Failed), `Back-off pulling image %q` (BackOff), `Container image %q is not present
//     with pull policy of Never` (ErrImageNeverPull), `Failed to apply default image tag %q: %v`
//     and `couldn't parse image reference %q: %v` (InvalidImageName), `Failed to inspect
//     image %q: %v` (InspectFailed); the waiting reasons are pkg/kubelet/images/types.go's.
//   - containerd internal/cri/server/images/image_pull.go: `failed to pull and unpack image
//     %q: %w`; client/pull.go: `failed to resolve reference %q: %w`.
//   - containerd core/remotes/docker/resolver.go: `%s: %w` with errdefs.ErrNotFound ("not
//     found"), `pull access denied, repository does not exist or may require authorization:
//     %w` around ErrInvalidAuthorization ("authorization failed"), `failed to do request: %w`.
//   - containerd core/remotes/errors/errors.go: `unexpected status from %s request to %s: %s`.
//   - containerd core/remotes/docker/authorizer.go: `failed to fetch anonymous token: %w`,
//     `failed to fetch oauth token: %w`; errcode.go/errdesc.go: `%s: %s` with codes
//     "denied: requested access to the resource is denied", "toomanyrequests: ...".
//   - containerd core/images/handlers.go and image.go: `no match for platform in manifest: %w`.
func TestClassify(t *testing.T) {
	const img = `"registry.example.com/team/app:1.0"`
	const unpack = `rpc error: code = Unknown desc = failed to pull and unpack image "registry.example.com/team/app:1.0": `
	const resolve = `failed to resolve reference "registry.example.com/team/app:1.0": `
	cases := map[string]struct {
		reason, message string
		events          []string
		want            Cause
	}{
		"not found (resolver.go ErrNotFound)": {
			reason:  ReasonErrImagePull,
			message: `rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/team/app:1.0": ` + resolve + `registry.example.com/team/app:1.0: not found`,
			want:    CauseNotFound,
		},
		"not found in the Failed event, waiting in back-off (image_manager.go)": {
			reason:  ReasonImagePullBackOff,
			message: `Back-off pulling image ` + img,
			events:  []string{`Back-off pulling image ` + img, `Failed to pull image ` + img + `: rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/team/app:1.0": ` + resolve + `registry.example.com/team/app:1.0: not found`},
			want:    CauseNotFound,
		},
		"pull access denied (resolver.go ErrInvalidAuthorization)": {
			reason:  ReasonErrImagePull,
			message: unpack + resolve + `pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed`,
			want:    CauseUnauthorized,
		},
		"anonymous token 401 (authorizer.go, errors.go)": {
			reason:  ReasonErrImagePull,
			message: unpack + resolve + `failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://registry.example.com/token?scope=repository%3Ateam%2Fapp%3Apull&service=registry: 401 Unauthorized`,
			want:    CauseUnauthorized,
		},
		"oauth token 403 (authorizer.go, errors.go)": {
			reason:  ReasonErrImagePull,
			message: unpack + resolve + `failed to authorize: failed to fetch oauth token: unexpected status from POST request to https://registry.example.com/token: 403 Forbidden`,
			want:    CauseUnauthorized,
		},
		"HEAD 403 (resolver.go unexpectedResponseErr)": {
			reason:  ReasonErrImagePull,
			message: unpack + resolve + `unexpected status from HEAD request to https://registry.example.com/v2/team/app/manifests/1.0: 403 Forbidden`,
			want:    CauseUnauthorized,
		},
		"denied error code (errdesc.go ErrorCodeDenied)": {
			reason:  ReasonErrImagePull,
			message: unpack + `failed to copy: httpReadSeeker: failed open: unexpected status code https://registry.example.com/v2/team/app/blobs/sha256:0123: 403 Forbidden - Server message: denied: requested access to the resource is denied`,
			want:    CauseUnauthorized,
		},
		"rate limit 429 toomanyrequests (errors.go, errdesc.go ErrorCodeTooManyRequests)": {
			reason:  ReasonErrImagePull,
			message: unpack + resolve + `unexpected status from HEAD request to https://registry-1.docker.io/v2/library/nginx/manifests/1.27: 429 Too Many Requests`,
			want:    CauseRateLimited,
		},
		"rate limit server message (errdesc.go ErrorCodeTooManyRequests)": {
			reason:  ReasonErrImagePull,
			message: unpack + `failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/sha256:0123: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit.`,
			want:    CauseRateLimited,
		},
		"DNS no such host (resolver.go failed to do request)": {
			reason:  ReasonErrImagePull,
			message: unpack + resolve + `failed to do request: Head "https://registry.example.com/v2/team/app/manifests/1.0": dial tcp: lookup registry.example.com on 10.96.0.10:53: no such host`,
			want:    CauseDNS,
		},
		"DNS server misbehaving (resolver.go failed to do request)": {
			reason:  ReasonErrImagePull,
			message: unpack + resolve + `failed to do request: Head "https://registry.example.com/v2/team/app/manifests/1.0": dial tcp: lookup registry.example.com: server misbehaving`,
			want:    CauseDNS,
		},
		"x509 unknown authority (resolver.go failed to do request)": {
			reason:  ReasonErrImagePull,
			message: unpack + resolve + `failed to do request: Head "https://registry.example.com/v2/team/app/manifests/1.0": tls: failed to verify certificate: x509: certificate signed by unknown authority`,
			want:    CauseTLS,
		},
		"plain HTTP registry (resolver.go failed to do request)": {
			reason:  ReasonErrImagePull,
			message: unpack + resolve + `failed to do request: Head "https://registry.example.com/v2/team/app/manifests/1.0": http: server gave HTTP response to HTTPS client`,
			want:    CauseTLS,
		},
		"connection refused (resolver.go failed to do request)": {
			reason:  ReasonErrImagePull,
			message: unpack + resolve + `failed to do request: Head "https://registry.example.com/v2/team/app/manifests/1.0": dial tcp 10.0.0.5:443: connect: connection refused`,
			want:    CauseConnection,
		},
		"i/o timeout (resolver.go failed to do request)": {
			reason:  ReasonErrImagePull,
			message: unpack + resolve + `failed to do request: Head "https://registry.example.com/v2/team/app/manifests/1.0": dial tcp 10.0.0.5:443: i/o timeout`,
			want:    CauseConnection,
		},
		"TLS handshake timeout (resolver.go isTLSError)": {
			reason:  ReasonErrImagePull,
			message: unpack + resolve + `failed to do request: Head "https://registry.example.com/v2/team/app/manifests/1.0": net/http: TLS handshake timeout`,
			want:    CauseConnection,
		},
		"no platform (handlers.go)": {
			reason:  ReasonErrImagePull,
			message: `rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/team/app:1.0": no match for platform in manifest: not found`,
			want:    CausePlatform,
		},
		"no platform with digest (image.go)": {
			reason:  ReasonErrImagePull,
			message: `rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/team/app:1.0": no match for platform in manifest sha256:0123: not found`,
			want:    CausePlatform,
		},
		"never pull (image_manager.go, types.go)": {
			reason:  ReasonErrImageNeverPull,
			message: `Container image ` + img + ` is not present with pull policy of Never`,
			want:    CauseNeverPull,
		},
		"never pull from the Event alone (image_manager.go)": {
			reason: ReasonImagePullBackOff,
			events: []string{`Container image ` + img + ` is not present with pull policy of Never`},
			want:   CauseNeverPull,
		},
		"invalid name (image_manager.go applyDefaultImageTag)": {
			reason:  ReasonInvalidImageName,
			message: `Failed to apply default image tag "Registry.example.com/App": couldn't parse image reference "Registry.example.com/App": invalid reference format: repository name must be lowercase`,
			want:    CauseInvalidName,
		},
		"invalid name in containerd (image_pull.go)": {
			reason:  ReasonErrImagePull,
			message: `rpc error: code = Unknown desc = failed to parse image reference "a b": invalid reference format`,
			want:    CauseInvalidName,
		},
		"inspect error (image_manager.go)": {
			reason:  ReasonImageInspectError,
			message: `Failed to inspect image ` + img + `: rpc error: code = Unknown desc = failed to get image status`,
			want:    CauseInspectFailed,
		},
		"back-off with nothing else (image_manager.go)": {
			reason:  ReasonImagePullBackOff,
			message: `Back-off pulling image ` + img,
			want:    CauseUnknown,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := Classify(tc.reason, tc.message, tc.events...); got != tc.want {
				t.Errorf("Classify(%q, %q) = %s, want %s", tc.reason, tc.message, got, tc.want)
			}
		})
	}
}

func FuzzClassify(f *testing.F) {
	f.Add(ReasonErrImagePull, "rpc error: code = NotFound desc = x: not found")
	f.Fuzz(func(t *testing.T, reason, message string) {
		if c := Classify(reason, message); c.Describe() == "" {
			t.Fatalf("cause %q has no description", c)
		}
	})
}
