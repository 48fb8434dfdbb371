// Package registry predicts, at admission time, whether the kubelet and the container runtime
// will be able to pull an image, using the kubelet's own reference parsing (package reference)
// and credential rules (package keyring), and go-containerregistry for the registry protocol
// behind a guarded transport (package egress). The spec it implements is
// docs/pull-semantics.md; its rules are the table in rows_test.go.
//
// # Verdicts
//
// Checker.Check never returns an error. It returns a Verdict whose Outcome is one of:
//
//   - Pullable: the registry served the manifest with the credentials the kubelet would use
//     (Credential names which one), and, when candidate platforms were given and the manifest is
//     an index, an entry the nodes can run (containerd's matcher). Notes carry findings that do
//     not change that: a tag ignored because a digest is given, a rejected credential before the
//     one that worked (the kubelet tries them on every pull), platforms only some nodes run, a
//     single-platform image built for another platform (it pulls, then crashes with exec format
//     error).
//   - NotPullable: the engine observed, with certainty, the failure the kubelet will hit: an
//     invalid reference (InvalidImageName), an undecodable pull secret, a missing tag, digest or
//     repository, 401/403 with exactly the kubelet's credentials (no anonymous retry once one
//     matched), credentials rejected by the token service, no platform for any candidate node,
//     a schema 1 manifest (containerd 2 refuses it).
//   - Unverifiable: the engine cannot know. 429, 5xx, refused or reset connections, DNS and TLS
//     failures, timeouts, addresses the network guard refuses, malformed answers, digests
//     go-containerregistry cannot hash, and registries whose credentials live on the nodes.
//
// Unverifiable never means "no" by default. Everything in that list depends on the webhook's
// own position, not the node's: its egress IP and Docker Hub quota, its DNS view, its CA
// bundle, its network policy, the moment of the check. The nodes may well pull the image, and a
// webhook that blocked deploys whenever a registry hiccupped would cause the outages it exists
// to prevent. Callers warn on Unverifiable and deny only on NotPullable (the admission package
// makes this configurable).
//
// Class says why, from a closed set used as metric label and audit value. Detail is one line
// naming the registry, repository and tag and the cause in the kubelet's words; Fix is one line
// saying what to change. No message ever contains a credential: credentials are named by source
// (a secret, a Docker config file) and key only, and every credential a check sent is redacted
// from text copied out of a registry's answer (redact.go) before the verdict is cut to Limits
// and cached. Fit shortens a message for a kubectl warning
// (MaxWarningRunes) without cutting a word; TimeoutVerdict is the verdict of a check that ran
// out of time, whoever set the deadline.
//
// # Probing
//
// Hosts are asked as containerd asks them: the nodes' mirrors (Options.Mirrors) in order, then
// the registry, docker.io at registry-1.docker.io. For each candidate credential in the
// kubelet's order (anonymous only when none matched):
// when candidate platforms are given and the registry does not count manifest GETs as pulls
// (Options.SinglePlatformCheckSkip, Docker Hub by default), GET the manifest, whose body gives
// an index's platforms or a single image's config digest; that config blob is read once per
// digest. Otherwise HEAD the manifest (Docker Hub does not count HEADs against the pull limit);
// GET it only when the HEAD answer is malformed, to tell MANIFEST_UNKNOWN from NAME_UNKNOWN after
// a 404, or, by digest and once per digest, to read an index's platforms. Layers are never
// fetched. The first
// success wins; 401/403/404 moves on to the next candidate as the kubelet does; any transient
// failure stops at once rather than spending the remaining credentials on a struggling registry.
//
// Bearer tokens are reused across checks: one remote.Puller per credential fingerprint and
// repository (see pullerPool for how go-containerregistry caches and why per-call deadlines
// still hold). go-containerregistry's own retries are switched off; retryTransport retries a
// 5xx or a reset at most MaxRetries times and only when the caller's deadline leaves room, and
// never a 429.
//
// # Cache and coalescing
//
// Verdicts are cached in an LRU bounded by entries and by bytes (what each verdict's texts and
// lists weigh, Options.CacheBytes; image platforms likewise, IndexCacheBytes), keyed by the reference the runtime pulls, the candidate
// credentials' fingerprints in order, the platform set and the keyring's explanation lines,
// with separate TTLs for tags, digests, NotPullable and Unverifiable (0: not cached). With
// StaleOnError an expired Pullable verdict is kept for StaleTTL and served, with a note, when a
// fresh check is Unverifiable. Identical concurrent checks share one registry round trip
// (singleflight); the shared flight runs detached from the first caller's cancellation but
// within its deadline, and a caller with a longer deadline retries a flight that ran out of
// time. A global semaphore bounds round trips in flight, and each host and each registrable
// domain may hold only a share of it (Limits.MaxRequestsPerHost, MaxRequestsPerDomain).
//
// # Metrics
//
// pullguard_registry_request_duration_seconds{outcome}, pullguard_registry_cache_total{result},
// pullguard_registry_blocked_connections_total{reason} and
// pullguard_registry_upstream_requests_total{kind}, on Options.Registerer. Labels are closed
// sets; never a host, repository or image, which whoever creates a pod chooses.
package registry
