// Package admission is pullguard's validating admission webhook: for each Pod and workload
// template, it asks the registry engine whether the kubelet will be able to pull every image,
// with the credentials the kubelet will use, and answers in the namespace's mode.
//
// # What is checked
//
// One endpoint, Path (/validate), AdmissionReview v1. Kinds: Pod (CREATE, UPDATE and the
// pods/ephemeralcontainers subresource), apps/v1 Deployment, StatefulSet, DaemonSet, ReplicaSet,
// v1 ReplicationController, batch/v1 Job and CronJob. Images come from containers,
// initContainers, ephemeralContainers and image volumes (volumes[].image.reference), each
// reported with its field path (spec.template.spec.initContainers[1].image). Not checked:
// DELETE and CONNECT, other subresources, mirror pods, images with imagePullPolicy Never (a
// warning says they must be pre-loaded), exempt namespaces, users, groups and images. Any other
// kind is a configuration error: it is allowed with a warning naming it, never blocked.
//
// An UPDATE re-checks only images absent from oldObject, or every image when the pull secrets
// (or a template's serviceAccountName) or the placement (nodeSelector, affinity, tolerations,
// nodeName, os) changed: scaling, label edits and `kubectl rollout restart` never reach a
// registry.
//
// # Credentials
//
// As the kubelet (docs/pull-semantics.md §2.1): a Pod's spec.imagePullSecrets, into which the
// ServiceAccount admission plugin has already copied its ServiceAccount's secrets when the pod
// listed none, so a Pod's ServiceAccount is never read. A pod template's imagePullSecrets, or,
// only when it has none, those of its ServiceAccount (default "default"), which the plugin will
// copy into each pod. Secrets are read only from the object's own namespace, with namespaced
// GETs through the API reader (RBAC: get on secrets and serviceaccounts; never a cluster-wide
// list or watch of Secrets) behind a small TTL cache shared by concurrent admissions. A missing
// or wrong-type secret is a warning and the check goes on without it; a secret that cannot be
// read at all makes the images Unverifiable, since the webhook then knows nothing about what
// the kubelet will send.
//
// # Platforms
//
// The candidate platforms come from the pod's nodeSelector, required node affinity and
// spec.os.name when they pin both kubernetes.io/os and kubernetes.io/arch, else from the labels
// of the Nodes the pod's required affinity matches and whose NoSchedule and NoExecute taints it
// tolerates (a Node informer slimmed to labels and taints; the taints of passing node
// conditions do not count), with a Windows node's build (node.kubernetes.io/windows-build) as
// its OS version. Unknown platforms skip the platform check rather than guess.
//
// # Modes
//
// The namespace label pullguard.io/mode (ModeLabel) selects the mode, else Config.DefaultMode:
//
//	enforce  NotPullable: 422 Invalid, one cause per image; Unverifiable: allowed with a
//	         warning (denied too with Config.DenyUnverifiable)
//	warn     allowed, one warning per finding, field-path prefixed
//	audit    allowed, no warnings
//	off      nothing is checked
//
// In every mode but off, each finding is written as audit annotations (mode, decision,
// findings, image-N; the API server prefixes them with the webhook's name) and counted in
// pullguard_admission_findings_total. An invalid label value falls back to the default mode
// with a warning naming the value.
//
// # Deadline
//
// The API server appends ?timeout= to every webhook call. The handler's budget is
// min(MaxBudget, timeout-TimeoutMargin); images are checked in parallel under it, and an image
// whose check has not finished in time gets an Unverifiable/timeout verdict naming it, so the
// configured Unverifiable decision applies instead of the API server's failurePolicy.
//
// # Side effects
//
// None: the handler writes nothing to the API server and records no Events, so dryRun
// requests get the same answer as real ones (sideEffects: None).
//
// # Metrics
//
//	pullguard_admission_decisions_total{mode,decision,reason}   one per request
//	pullguard_admission_findings_total{mode,outcome,reason}     one per checked image
//	pullguard_admission_duration_seconds{kind}
//
// decision is allow, warn, audit, deny or error; reason is a registry Class or one of ok, off,
// exempt, unchanged, mirror_pod, ignored, unknown_kind, bad_request, panic, notes,
// credentials_unreadable, other. No label ever carries an image, a namespace or a host.
package admission
