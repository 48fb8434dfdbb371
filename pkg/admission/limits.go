package admission

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/pullguard/pullguard/pkg/config"
)

// Limits bound what one object may cost the handler. An object of about 3 MiB passes the API
// server and can list 150,000 images or 50,000 pull secret names; without these bounds its
// admission would run far past its budget and hold hundreds of MiB. They are settings like any
// other of Config: flags and config keys under "admission.limits" (Config.AddFlags), checked by
// Config.Validate.
type Limits struct {
	// MaxImagesPerObject is how many image fields (containers, initContainers,
	// ephemeralContainers, image volumes) one object may have for its images to be checked. An
	// object with more gets one Unverifiable finding instead: the kubelet may well pull them.
	MaxImagesPerObject int
	// MaxPullSecretsPerObject is how many distinct imagePullSecrets names (the object's own or
	// its ServiceAccount's) are read. With more, the credentials the kubelet will use are not
	// known, and every image is Unverifiable, as when a secret cannot be read.
	MaxPullSecretsPerObject int
	// MaxConcurrentSecretReads bounds the secret GETs one admission runs at once. They also
	// share the API client's rate limiter with every other admission, and the budget bounds
	// them all.
	MaxConcurrentSecretReads int
}

// DefaultLimits returns the defaults: 256 images, 64 pull secret names, 8 concurrent reads.
func DefaultLimits() Limits {
	return Limits{MaxImagesPerObject: 256, MaxPullSecretsPerObject: 64, MaxConcurrentSecretReads: 8}
}

// maxConcurrentSecretReadsLimit bounds MaxConcurrentSecretReads: the reads share the API
// client's rate limiter with every other admission.
const maxConcurrentSecretReadsLimit = 64

// addFlags binds each limit under "limits." of b's section.
func (l *Limits) addFlags(b config.Binder) {
	b.Int(&l.MaxImagesPerObject, "max-images-per-object", "limits.maxImagesPerObject",
		"Image fields one object may have for its images to be checked; an object with more is unverifiable, never refused.")
	b.Int(&l.MaxPullSecretsPerObject, "max-pull-secrets-per-object", "limits.maxPullSecretsPerObject",
		"imagePullSecrets names read for one object; with more its images are unverifiable.")
	b.Int(&l.MaxConcurrentSecretReads, "max-concurrent-secret-reads", "limits.maxConcurrentSecretReads",
		"Pull secrets one admission reads at once (1-64).")
}

// validate reports every invalid limit at its path under p ("admission.limits").
func (l Limits) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if l.MaxImagesPerObject < 1 {
		errs = append(errs, field.Invalid(p.Child("maxImagesPerObject"), l.MaxImagesPerObject, "must be positive"))
	}
	if l.MaxPullSecretsPerObject < 1 {
		errs = append(errs, field.Invalid(p.Child("maxPullSecretsPerObject"), l.MaxPullSecretsPerObject, "must be positive"))
	}
	if l.MaxConcurrentSecretReads < 1 || l.MaxConcurrentSecretReads > maxConcurrentSecretReadsLimit {
		errs = append(errs, field.Invalid(p.Child("maxConcurrentSecretReads"), l.MaxConcurrentSecretReads, "must be in [1, 64]"))
	}
	return errs
}
