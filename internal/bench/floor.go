package bench

import (
	"context"
	"encoding/json"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrladmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/registry"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// The floor of a warm admission: what pullguard's handler does on top of the no-op handler
// (both share the TLS, HTTP and AdmissionReview decoding and encoding), taken apart, so that the
// throughput gap can be said in microseconds of work a decision cannot skip: decoding the
// object's pod spec, and one verdict cache lookup per image.

// FloorParts are the pieces of one warm admission of the throughput review, without HTTP.
type FloorParts struct {
	// Handle is pullguard's whole Handle on the decoded review (the no-op's Handle returns at
	// once): everything the handler adds.
	Handle func(context.Context) error
	// Decode is decoding the review's object as the handler does (admission.DecodeWorkload).
	Decode func() error
	// Lookups is one verdict cache lookup per image, with the Nodes' platform.
	Lookups func() error
}

// Floor returns the parts for the env's review and warm cache.
func (e *ThroughputEnv) Floor() (FloorParts, error) {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(e.review, &review); err != nil || review.Request == nil {
		return FloorParts{}, fmt.Errorf("decoding the throughput review: %v", err)
	}
	req := ctrladmission.Request{AdmissionRequest: *review.Request}
	gvk := schema.GroupVersionKind(req.Kind)
	object := req.Object.Raw
	kr := keyring.FromSecrets(nil)
	amd64 := []ocispec.Platform{{OS: "linux", Architecture: "amd64"}}
	return FloorParts{
		Handle: func(ctx context.Context) error {
			if r := e.handler.Handle(ctx, req); !r.Allowed {
				return fmt.Errorf("refused: %v", r.Result)
			}
			return nil
		},
		Decode: func() error {
			_, ok, err := admission.DecodeWorkload(gvk, object)
			if err == nil && !ok {
				err = fmt.Errorf("%s is not a checked kind", gvk)
			}
			return err
		},
		Lookups: func() error {
			for _, image := range e.images {
				v, ok := e.checker.Cached(registry.Request{Image: image, Keyring: kr, Platforms: amd64})
				if !ok || v.Outcome != registry.Pullable {
					return fmt.Errorf("%s: not a warm Pullable verdict (%v, %s)", image, ok, v.Outcome)
				}
			}
			return nil
		},
	}, nil
}
