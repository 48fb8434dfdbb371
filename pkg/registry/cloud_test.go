package registry

import (
	"testing"

	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// TestCloudProviderRegistries: the default node-credential patterns cover the registries managed
// clusters pull from with the nodes' identity, and nothing else.
func TestCloudProviderRegistries(t *testing.T) {
	tests := map[string]struct {
		repo string
		want bool
	}{
		"ECR":                 {repo: "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app", want: true},
		"ECR China":           {repo: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/team/app", want: true},
		"ECR FIPS":            {repo: "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/team/app", want: true},
		"GCR":                 {repo: "gcr.io/project/app", want: true},
		"GCR regional":        {repo: "eu.gcr.io/project/app", want: true},
		"Artifact Registry":   {repo: "europe-west1-docker.pkg.dev/project/repo/app", want: true},
		"ACR":                 {repo: "myregistry.azurecr.io/app", want: true},
		"Docker Hub":          {repo: "docker.io/library/nginx", want: false},
		"GHCR":                {repo: "ghcr.io/org/app", want: false},
		"ECR public":          {repo: "public.ecr.aws/nginx/nginx", want: false},
		"look-alike host":     {repo: "dkr.ecr.us-east-1.amazonaws.com.evil.example/app", want: false},
		"ACR with a port":     {repo: "myregistry.azurecr.io:5000/app", want: false},
		"deeper ECR sub-host": {repo: "a.b.dkr.ecr.us-east-1.amazonaws.com/app", want: false},
	}
	patterns := DefaultOptions().NodeCredentialRegistries
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := false
			for _, p := range patterns {
				got = got || keyring.Match(p, tc.repo)
			}
			if got != tc.want {
				t.Errorf("node credentials for %s = %v, want %v", tc.repo, got, tc.want)
			}
		})
	}
}
