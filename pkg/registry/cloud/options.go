package cloud

import (
	"fmt"
	"net/http"
	"regexp"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/aws/aws-sdk-go-v2/aws"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/pullguard/pullguard/pkg/config"
)

// Options configures the cloud credential sources; each is off unless enabled.
type Options struct {
	ECR ECROptions
	GCP GCPOptions
	ACR ACROptions
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

// GCPOptions configures the Artifact Registry and GCR provider.
type GCPOptions struct {
	// Enabled gives Artifact Registry and GCR hosts a token from the webhook's Google identity.
	Enabled bool
	// HTTPClient replaces the HTTP client of the OAuth token exchanges (nil: the library's;
	// tests inject one that only dials loopback). Not a setting.
	HTTPClient *http.Client
}

// ACROptions configures the ACR provider.
type ACROptions struct {
	// Enabled gives ACR hosts a token from the webhook's Azure workload identity.
	Enabled bool
	// AADTransport replaces the transport of the Entra token requests (nil: azcore's; tests
	// inject one that only dials loopback). Not a setting.
	AADTransport policy.Transporter
	// DisableInstanceDiscovery skips Entra's instance discovery, for an authority host it does
	// not know (the tests' loopback authority). Not a setting.
	DisableInstanceDiscovery bool
}

// NewSources builds the enabled providers (none enabled: a Sources that never matches).
// registry is the engine's guarded transport: requests a provider sends to a registry host
// itself (ACR's token exchange) go through it.
func (o Options) NewSources(registry http.RoundTripper) *Sources {
	var providers []Provider
	if o.ECR.Enabled {
		providers = append(providers, NewECR(o.ECR.Regions, o.ECR.HTTPClient, nil))
	}
	if o.GCP.Enabled {
		providers = append(providers, NewGCP(o.GCP.HTTPClient, nil))
	}
	if o.ACR.Enabled {
		providers = append(providers, NewACR(o.ACR.AADTransport, registry, o.ACR.DisableInstanceDiscovery, nil))
	}
	return NewSources(nil, providers...)
}

// AddFlags binds the options under "cloud." of b's section.
func (o *Options) AddFlags(b config.Binder) {
	b.Bool(&o.ECR.Enabled, "cloud-ecr", "cloud.ecr.enabled",
		"Check ECR images without a matching pull secret with the webhook's own AWS identity (IRSA, Pod Identity, instance role; needs ecr:GetAuthorizationToken and ecr:BatchGetImage). The nodes' own permission is still not checked.")
	b.StringSlice(&o.ECR.Regions, "cloud-ecr-regions", "cloud.ecr.regions",
		"AWS regions --cloud-ecr serves, e.g. us-east-1 (empty: the region each ECR host names).")
	b.Bool(&o.GCP.Enabled, "cloud-gcp", "cloud.gcp.enabled",
		"Check Artifact Registry and GCR images (*.pkg.dev, gcr.io, *.gcr.io) without a matching pull secret with the webhook's own Google identity (application default credentials: GKE Workload Identity, a credentials file; needs roles/artifactregistry.reader). The nodes' own permission is still not checked.")
	b.Bool(&o.ACR.Enabled, "cloud-acr", "cloud.acr.enabled",
		"Check ACR images (*.azurecr.io, .cn, .de, .us) without a matching pull secret with the webhook's own Azure workload identity (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE; needs AcrPull). The nodes' own permission is still not checked.")
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
