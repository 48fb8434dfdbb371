// Package keyring reproduces the credential keyring the kubelet builds from a pod's
// imagePullSecrets, so pullguard probes a registry with exactly the credentials, in exactly the
// order, that the node will use.
//
// Three constructors feed the same matching rules: FromSecrets (a pod's pull secrets, the
// webhook), FromDockerConfig (a ~/.docker/config.json, for a program outside the cluster) and
// FromEntries (credentials given one by one); Union joins a pod's keyring and its node's, as the
// kubelet's UnionDockerKeyring does. Every credential names its source for messages
// (Credential.SourceName: `imagePullSecret "regcred"`, `docker config ~/.docker/config.json`)
// and never its secret.
//
// It is a port of k8s.io/kubernetes v1.37 pkg/credentialprovider (keyring.go: BasicDockerKeyring.Add,
// Lookup, URLsMatch, isDefaultRegistryMatch; config.go: DockerConfigJSON, DockerConfigEntry and
// the "auth" decoding) and pkg/credentialprovider/secrets (secretsToTrackedDockerConfigs):
//
//   - Only secrets of type kubernetes.io/dockerconfigjson with non-empty ".dockerconfigjson" data
//     ({"auths":{…}}) and kubernetes.io/dockercfg with non-empty ".dockercfg" data (a bare map)
//     are read. Anything else, Opaque included, is skipped silently by the kubelet; Ignored says why.
//   - A document the kubelet cannot decode (wrong JSON shape, invalid base64 in "auth", "auth"
//     without ':') fails the kubelet's whole lookup, so the pull fails before any registry is
//     contacted: Err returns a *SecretError and Lookup returns nothing.
//   - Each auths key is normalised: "https://" is added when no scheme is given, a leading /v1/
//     or /v2/ is dropped, and the key becomes host[+path]. Keys are de-duplicated and sorted in
//     reverse lexicographic order; credentials under one key keep insertion order.
//   - A key matches a repository (reference.Reference.Repository, e.g. "docker.io/library/nginx")
//     when ports are equal, hosts have the same number of dot-separated labels, each label matches
//     with filepath.Match (so one '*' covers exactly one label) and the key's path is a plain
//     string prefix of the repository path. Every matching key contributes, in index order.
//   - Only when no key matched and the repository looks like Docker Hub are the credentials under
//     key "index.docker.io" (written as "https://index.docker.io/v1/" by kubectl) used.
//   - identitytoken and registrytoken are not read: an entry holding only those gives a credential
//     with an empty username, which containerd and CRI-O use as an anonymous pull.
//   - Credentials are never de-duplicated: the kubelet tries the same username/password twice if
//     two secrets hold it.
//
// One deliberate difference: within one secret the kubelet walks its auths map in Go's random map
// order, so when two keys of the same secret normalise to the same key (e.g. "index.docker.io" and
// "https://index.docker.io/v1/") the order of their credentials changes from pull to pull. This
// package walks a secret's keys in sorted order instead, so verdicts are reproducible. Across
// secrets the pod's order is kept, as in the kubelet.
//
// Explain turns a failed match into the kubelet's terms (glob depth, port, the index.docker.io
// fallback, registry-1.docker.io, ignored tokens) for admission messages. No password, auth value
// or token is ever part of an error, a message or a log line; Credential.Fingerprint is a one-way
// hash for cache keys.
package keyring
