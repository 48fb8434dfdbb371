// Package installcheck holds the properties every rendering of pullguard's install must have,
// whether it comes from the Helm chart (charts/render) or from a kustomization (manifests/):
// the webhook's availability (replicas, disruption budget, spread, probes), its security (Pod
// Security restricted, least-privilege RBAC, egress and ingress), and a webhook configuration the
// API server can call safely. The two test suites decode their renderings into Objects and run
// Run on each; what is particular to one of them (chart values, kustomize flags) stays there.
package installcheck
