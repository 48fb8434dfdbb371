package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pullguard/pullguard/certs/selfca"
)

// The bed's API server authenticates to webhooks as a production one can: its admission
// configuration names a kubeconfig whose user "*" (any webhook) presents a client certificate,
// and the webhook verifies it against --client-ca-file. The webhook then treats the API server
// as a trusted caller (pkg/admission/caller.go), so the e2e tests see every note a user sees.

// admissionClientName is the name the API server's client certificate authenticates as.
const admissionClientName = "kube-apiserver-admission"

// admissionConfig is the AdmissionConfiguration handed to --admission-control-config-file.
const admissionConfig = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]q
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]q
`

// admissionKubeconfig gives every webhook ("*") the client certificate.
const admissionKubeconfig = `apiVersion: v1
kind: Config
users:
- name: "*"
  user:
    client-certificate: %q
    client-key: %q
`

// writeAdmissionAuth makes a client CA and a client certificate under dir and writes the API
// server's admission configuration. It returns the configuration's path and the CA's PEM file,
// the webhook's --client-ca-file.
func writeAdmissionAuth(dir string) (configPath, caFile string, err error) {
	ca, err := selfca.NewCA(24 * time.Hour)
	if err != nil {
		return "", "", fmt.Errorf("making the admission client CA: %w", err)
	}
	client, err := ca.IssueClient(admissionClientName, 24*time.Hour)
	if err != nil {
		return "", "", fmt.Errorf("issuing the API server's admission client certificate: %w", err)
	}
	caFile = filepath.Join(dir, "admission-client-ca.crt")
	certFile := filepath.Join(dir, "admission-client.crt")
	keyFile := filepath.Join(dir, "admission-client.key")
	kubeconfig := filepath.Join(dir, "admission.kubeconfig")
	configPath = filepath.Join(dir, "admission-config.yaml")
	for _, f := range []struct {
		path string
		data []byte
	}{
		{caFile, ca.CertPEM},
		{certFile, client.Cert},
		{keyFile, client.Key},
		{kubeconfig, fmt.Appendf(nil, admissionKubeconfig, certFile, keyFile)},
		{configPath, fmt.Appendf(nil, admissionConfig, kubeconfig)},
	} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return "", "", fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	return configPath, caFile, nil
}
