package admission

import "fmt"

// Limits bound what one object may cost the handler. An object of about 3 MiB passes the API
// server and can list 150,000 images or 50,000 pull secret names; without these bounds its
// admission would run far past its budget and hold hundreds of MiB. A zero field takes its
// default (DefaultLimits); each is meant to be a flag.
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

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxImagesPerObject == 0 {
		l.MaxImagesPerObject = d.MaxImagesPerObject
	}
	if l.MaxPullSecretsPerObject == 0 {
		l.MaxPullSecretsPerObject = d.MaxPullSecretsPerObject
	}
	if l.MaxConcurrentSecretReads == 0 {
		l.MaxConcurrentSecretReads = d.MaxConcurrentSecretReads
	}
	return l
}

// Validate reports the first invalid limit.
func (l Limits) Validate() error {
	switch {
	case l.MaxImagesPerObject < 0 || l.MaxPullSecretsPerObject < 0:
		return fmt.Errorf("admission per-object limits must not be negative")
	case l.MaxConcurrentSecretReads < 0 || l.MaxConcurrentSecretReads > 64:
		return fmt.Errorf("admission max concurrent secret reads must be 0-64, got %d", l.MaxConcurrentSecretReads)
	}
	return nil
}
