// Package testbed runs pullguard's local test bed: a real control plane (etcd and kube-apiserver
// through envtest, with the API server's audit log on), the real CNCF Distribution registry
// behind TLS with htpasswd or Docker Hub-style token auth, the webhook started in-process through
// the same code path as the binary (cmd/webhook/app.Main), the shipped manifests and cert-manager
// objects server-side applied, fake Nodes, and a runner for the real kubectl.
//
// The e2e tests and `make demo` share it, so what the demo shows is what the tests assert.
//
// Every binary comes from `make tools` (bin/), found through the environment the Makefile sets:
// KUBEBUILDER_ASSETS (kube-apiserver, etcd), PULLGUARD_KUBECTL and PULLGUARD_REGISTRY. A missing
// binary is an error naming `make tools`, never a skip, so CI cannot pass by running nothing.
//
// Everything listens on 127.0.0.1 only, every wait is bounded, and Stop ends every process the
// bed started.
package testbed
