package cloud

import (
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/pullguard/pullguard/pkg/config"
)

// Options configures the cloud credential sources; each is off unless enabled.
type Options struct {
	ECR ECROptions
}

// ECROptions configures the ECR provider.
type ECROptions struct {
	// Enabled gives ECR hosts a token from the webhook's AWS identity.
	Enabled bool
	// Regions limits it to these regions (empty: the region each host names).
	Regions []string
	// HTTPClient replaces the AWS SDK's HTTP client (nil: the SDK's; tests inject one that only
	// dials loopback). Not a setting.
	HTTPClient aws.HTTPClient
}

// NewSources builds the enabled providers (none enabled: a Sources that never matches).
func (o Options) NewSources() *Sources {
	var providers []Provider
	if o.ECR.Enabled {
		providers = append(providers, NewECR(o.ECR.Regions, o.ECR.HTTPClient, nil))
	}
	return NewSources(nil, providers...)
}

// AddFlags binds the options under "cloud." of b's section.
func (o *Options) AddFlags(b config.Binder) {
	b.Bool(&o.ECR.Enabled, "cloud-ecr", "cloud.ecr.enabled",
		"Check ECR images without a matching pull secret with the webhook's own AWS identity (IRSA, Pod Identity, instance role; needs ecr:GetAuthorizationToken and ecr:BatchGetImage). The nodes' own permission is still not checked.")
	b.StringSlice(&o.ECR.Regions, "cloud-ecr-regions", "cloud.ecr.regions",
		"AWS regions --cloud-ecr serves, e.g. us-east-1 (empty: the region each ECR host names).")
}

var awsRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)

// Validate reports every invalid option at its path below p ("registry.cloud.ecr.regions[0]").
func (o Options) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	e := p.Child("ecr")
	for i, r := range o.ECR.Regions {
		if !awsRegion.MatchString(r) {
			errs = append(errs, field.Invalid(e.Child("regions").Index(i), r, fmt.Sprintf("%q is not an AWS region (e.g. us-east-1)", r)))
		}
	}
	if len(o.ECR.Regions) > 0 && !o.ECR.Enabled {
		errs = append(errs, field.Invalid(e.Child("regions"), o.ECR.Regions, "regions are set but ECR is not enabled"))
	}
	return errs
}
