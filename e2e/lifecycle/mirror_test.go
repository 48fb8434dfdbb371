package lifecycle

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/pkg/admission"
)

// TestRegistryMirror: with the nodes' mirror declared (--registry-mirror REGISTRY=MIRROR, a
// second real registry), a tag only the mirror holds is admitted, since the nodes would pull it
// there, and the check reached the mirror; a tag neither holds is still refused.
func TestRegistryMirror(t *testing.T) {
	mirror, _, err := bed.StartRegistry(t.Context(), testbed.AuthToken)
	if err != nil {
		t.Fatal(err)
	}
	// The public repository's new tag exists on the mirror only.
	ref, err := name.ParseReference(mirror.Ref(testbed.RepoWeb+":mirror-only"), name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, mirror.RemoteOptions(t.Context(), testbed.Pusher)...); err != nil {
		t.Fatal(err)
	}

	if err := bed.StopWebhook(); err != nil {
		t.Fatal(err)
	}
	if err := bed.StartWebhook(t.Context(), "--registry-mirror="+bed.Registry.Host+"="+mirror.Host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := bed.StopWebhook(); err != nil {
			t.Error(err)
		}
		if err := bed.StartWebhook(ctx); err != nil {
			t.Error(err)
		}
	})

	ns := namespace(t, "enforce-mirror", admission.ModeEnforce)
	before := mirror.Requests(testbed.RepoWeb)
	mustSucceed(t, deployment(t, ns, "from-mirror", bed.Registry.Ref(testbed.RepoWeb+":mirror-only")), []string{"apply", "-f", "-"},
		"deployment.apps/from-mirror created")
	if got := mirror.Requests(testbed.RepoWeb); got.Manifests <= before.Manifests {
		t.Errorf("the mirror was not asked: before %+v, after %+v", before, got)
	}

	res := kubectl(t, deployment(t, ns, "nowhere", bed.Registry.Ref(testbed.RepoWeb+":nowhere")), "apply", "-f", "-")
	if res.ExitCode == 0 || !strings.Contains(res.Output, `tag "nowhere" not found`) {
		t.Errorf("a tag neither the mirror nor the registry holds: want refused, got exit %d:\n%s", res.ExitCode, res.Output)
	}
}
