package app

import "sigs.k8s.io/controller-runtime/pkg/webhook"

// NewWebhookServer returns the HTTPS server Run serves admissions on, built from opts exactly as
// Run builds it (bind address, port, cert dir, TLS floor, ALPN). The benchmarks serve their own
// handlers on it, so that they measure the server the webhook ships with.
func NewWebhookServer(opts Options) webhook.Server {
	return managerOptions(opts, nil, nil).WebhookServer
}
