// Package e2e runs pullguard end to end on the local test bed (internal/testbed): a real
// kube-apiserver with the shipped manifests, the webhook started through the binary's code path,
// real registries, and every assertion made on what the real kubectl prints.
//
// One bed serves the whole package and its tests run in parallel, each in fresh namespaces
// (namespaces cannot be deleted without a controller manager). Tests that stop or restart the
// webhook live in e2e/lifecycle, which has its own bed. Run them with `make test-e2e`.
//
// Decisions worth knowing when reading the tests:
//   - kubectl prints a 422 denial as `The Deployment "web" is invalid: <field>: Invalid value:
//     ...` (the causes, without the API server's `admission webhook "images.pullguard.io" denied
//     the request` prefix), while `kubectl create` prints the status message with that prefix.
//     The tests assert each form where users meet it.
//   - The schedulable nodes are linux/amd64; the arm64 node is tainted NoSchedule, as GKE taints
//     its Arm nodes, so it is a candidate only for pods that tolerate the taint. A nodeSelector on
//     kubernetes.io/arch replaces the nodes as the candidate platforms, so an arm64-only image
//     with an arm64 selector is admitted: the pod would wait for a node it can use, a scheduling
//     matter, not a pull failure.
//   - "Does not reach the registry" is counted per repository at the registry's counting front,
//     and only after a webhook restart (e2e/lifecycle): with a warm verdict cache a re-check would
//     not reach the registry either.
//   - That the excluded namespaces are never intercepted is proven in e2e/lifecycle with the
//     webhook down and failurePolicy Fail; here they are labelled enforce and must still admit.
package e2e
