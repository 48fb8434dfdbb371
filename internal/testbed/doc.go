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
// The registries: Registry is Docker Hub-like (token auth; the token service is in-process, on
// "localhost" rather than the registry's "127.0.0.1", as auth.docker.io is another host than
// registry-1.docker.io; anonymous callers may pull demo/*, and get a token without access for
// private/*, which the registry answers with 401 insufficient_scope). BasicRegistry uses htpasswd.
// Clients reach each through a TLS front on 127.0.0.1 that counts manifest, blob and token
// requests per repository, so parallel tests can tell whether their own operations reached it.
//
// The webhook runs with the shipped Deployment's args plus local ones (addresses, cert dir,
// --allow-private-registries=127.0.0.1,localhost, --registry-ca-file), as the identity of the
// shipped ServiceAccount, so the shipped RBAC is what it gets.
//
// Everything listens on 127.0.0.1 only, every wait is bounded, and Stop ends every process the
// bed started.
package testbed
