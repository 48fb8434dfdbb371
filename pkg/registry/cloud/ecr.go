package cloud

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/awslabs/amazon-ecr-credential-helper/ecr-login/api"
)

// ecrHost is the host pattern of the kubelet's ECR credential provider (cloud-provider-aws,
// cmd/ecr-credential-provider): account, dkr.ecr or dkr-ecr, -fips, region, partition suffix.
// ECR Public (public.ecr.aws) is anonymous for pulls and not matched.
var ecrHost = regexp.MustCompile(`^(\d{12})\.dkr[\.\-]ecr(\-fips)?\.([a-zA-Z0-9][a-zA-Z0-9-_]*)\.(amazonaws\.com(\.cn)?|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$`)

// ecrTokenLifetime is how long an ECR authorization token is valid (GetAuthorizationToken:
// "valid for 12 hours"); ecr-login's Auth does not carry the expiry it read.
const ecrTokenLifetime = 12 * time.Hour

// ECR is the provider for Amazon ECR private registries, through ecr-login and the AWS SDK v2
// default credential chain (web identity / IRSA, EKS Pod Identity, instance role).
type ECR struct {
	regions []string
	// httpClient replaces the SDK's HTTP client (tests: one that only dials loopback).
	httpClient aws.HTTPClient
	now        func() time.Time
}

// NewECR returns the ECR provider for the regions allowed (empty: any region a host names).
// ecr-login would otherwise write every token to ~/.ecr/cache.json: its only switch is
// AWS_ECR_DISABLE_CACHE, set here when the environment does not already say.
func NewECR(regions []string, httpClient aws.HTTPClient, now func() time.Time) *ECR {
	if _, set := os.LookupEnv("AWS_ECR_DISABLE_CACHE"); !set {
		_ = os.Setenv("AWS_ECR_DISABLE_CACHE", "true")
	}
	if now == nil {
		now = time.Now
	}
	return &ECR{regions: regions, httpClient: httpClient, now: now}
}

// Name is the identity's name in messages.
func (*ECR) Name() string { return "ECR" }

// Scope is "region/account[/fips]": GetAuthorizationToken is asked per registry ID in a region.
func (e *ECR) Scope(host string) (string, bool) {
	m := ecrHost.FindStringSubmatch(host)
	if m == nil {
		return "", false
	}
	if len(e.regions) > 0 && !slices.Contains(e.regions, m[3]) {
		return "", false
	}
	scope := m[3] + "/" + m[1]
	if m[2] != "" {
		scope += "/fips"
	}
	return scope, true
}

// Fetch asks ECR for an authorization token for host's registry with the default chain.
func (e *ECR) Fetch(ctx context.Context, host, _ string) (Credential, error) {
	m := ecrHost.FindStringSubmatch(host)
	if m == nil {
		return Credential{}, fmt.Errorf("%q is not an ECR registry", host)
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(m[3])}
	if m[2] != "" {
		opts = append(opts, awsconfig.WithUseFIPSEndpoint(aws.FIPSEndpointStateEnabled))
	}
	if e.httpClient != nil {
		opts = append(opts, awsconfig.WithHTTPClient(e.httpClient))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return Credential{}, err
	}
	client, err := api.DefaultClientFactory{}.NewClientWithOptions(ctx, api.Options{Config: cfg})
	if err != nil {
		return Credential{}, err
	}
	start := e.now()
	auth, err := client.GetCredentialsByRegistryID(ctx, m[1])
	if err != nil {
		return Credential{}, err
	}
	return Credential{Username: auth.Username, Password: auth.Password, Expires: start.Add(ecrTokenLifetime)}, nil
}
