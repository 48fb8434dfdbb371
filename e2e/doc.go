// Package e2e runs pullguard end to end on the local test bed (internal/testbed): a real
// kube-apiserver with the shipped manifests, the webhook started through the binary's code path,
// real registries, and every assertion made on what the real kubectl prints.
//
// One bed serves the whole package and its tests run in parallel, each in fresh namespaces
// (namespaces cannot be deleted without a controller manager). Tests that stop or restart the
// webhook live in e2e/lifecycle, which has its own bed. Run them with `make test-e2e`.
package e2e
