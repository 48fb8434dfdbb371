package admission

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// credentials is what the kubelet will pull the workload's images with.
type credentials struct {
	keyring *keyring.Keyring
	// notes are warnings about the credentials themselves (missing or ignored secrets).
	notes []string
	// unreadable names the reads that failed for another reason than NotFound. Without them
	// nothing can be concluded: a secret the webhook cannot see may hold the credential that
	// works, or a wrong one the kubelet would fail with (no anonymous fallback once a key matches).
	unreadable []string
	// reads are the Secrets and the ServiceAccount read, as the reads found them.
	reads []CredentialRead
}

// CredentialRead is one object a workload's credentials were read from, as the read found it.
// The re-verifier polls these objects by name and checks the workload again when one differs
// from what its last check read (a rotated, deleted or created pull secret; a ServiceAccount
// whose imagePullSecrets changed).
type CredentialRead struct {
	// Kind is "Secret" or "ServiceAccount"; the namespace is the workload's.
	Kind, Name string
	// Found is false for a NotFound; Failed is true for a read that failed otherwise (nothing
	// is known of the object).
	Found, Failed   bool
	UID             types.UID
	ResourceVersion string
}

func credentialRead(kind, name string, obj client.Object, found bool, err error) CredentialRead {
	r := CredentialRead{Kind: kind, Name: name, Found: found && err == nil, Failed: err != nil}
	if r.Found {
		r.UID, r.ResourceVersion = obj.GetUID(), obj.GetResourceVersion()
	}
	return r
}

// resolveCredentials emulates the kubelet (docs/pull-semantics.md §2.1): a Pod's spec.imagePullSecrets already
// hold what the ServiceAccount admission plugin copied in, so a Pod's ServiceAccount is never
// read. A pod template gets its ServiceAccount's secrets only when it lists none itself, as the
// plugin will do for each of its pods. Secrets are read only from the object's own namespace:
// that is the only namespace the kubelet reads them from.
//
// Only a trusted caller hears which of the named objects exist and what they hold
// (caller.go); a name that cannot be a Secret's says nothing of the namespace.
func (h *Handler) resolveCredentials(ctx context.Context, w *workload, namespace string, trusted bool) credentials {
	var creds credentials
	names := pullSecretNames(w.spec)
	if w.kind.template {
		saNames, note, read, err := h.serviceAccountSecrets(ctx, namespace, w.serviceAccountName(), len(names) > 0)
		creds.reads = append(creds.reads, read)
		switch {
		case err != nil && len(names) == 0:
			creds.unreadable = append(creds.unreadable, err.Error())
		case len(names) == 0:
			names = saNames
		}
		if note != "" && trusted {
			creds.notes = append(creds.notes, attributed(w.specPath.Child("serviceAccountName").String(), note))
		}
	}

	secretsPath := w.specPath.Child("imagePullSecrets").String()
	if max := h.cfg.Limits.MaxPullSecretsPerObject; len(names) > max {
		creds.unreadable = append(creds.unreadable, fmt.Sprintf("%d imagePullSecrets, more than pullguard reads for one object (--max-pull-secrets-per-object=%d)", len(names), max))
		return creds
	}
	reads := h.readSecrets(ctx, namespace, names)
	secrets := make([]corev1.Secret, 0, len(names))
	for i, name := range names {
		r := reads[i]
		if !r.invalid {
			creds.reads = append(creds.reads, credentialRead("Secret", name, r.secret, r.found, r.err))
		}
		switch {
		case r.invalid:
			// No secret can have this name, and client-go refuses to ask for one with a '/':
			// the kubelet's GET fails and it pulls without the secret, as for a missing one.
			creds.notes = append(creds.notes, attributed(secretsPath, fmt.Sprintf("imagePullSecret %q not found in namespace %q (not a valid secret name); the kubelet will pull without it", name, namespace)))
		case r.err != nil:
			logf.FromContext(ctx).Error(r.err, "reading imagePullSecret", "secret", name)
			creds.unreadable = append(creds.unreadable, fmt.Sprintf("imagePullSecret %q could not be read (%s)", name, errorReason(r.err)))
		case !r.found:
			if trusted {
				creds.notes = append(creds.notes, attributed(secretsPath, fmt.Sprintf("imagePullSecret %q not found in namespace %q; the kubelet will pull without it", name, namespace)))
			}
		default:
			secrets = append(secrets, *r.secret)
		}
	}
	creds.keyring = h.keyrings.get(secrets)
	if trusted {
		for _, n := range creds.keyring.Ignored() {
			creds.notes = append(creds.notes, attributed(secretsPath, n))
		}
	}
	return creds
}

// secretRead is the result of reading one pull secret by name.
type secretRead struct {
	secret  *corev1.Secret
	found   bool
	invalid bool // the name cannot be a Secret's
	err     error
}

// readSecrets reads the named secrets of namespace, at most MaxConcurrentSecretReads at a
// time, and returns the results in the order of names. Every read ends by ctx's deadline.
func (h *Handler) readSecrets(ctx context.Context, namespace string, names []string) []secretRead {
	if len(names) == 0 {
		return nil
	}
	reads := make([]secretRead, len(names))
	sem := make(chan struct{}, h.cfg.Limits.MaxConcurrentSecretReads)
	var wg sync.WaitGroup
	for i, name := range names {
		if len(validation.IsDNS1123Subdomain(name)) > 0 {
			reads[i].invalid = true
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			obj, found, err := h.objects.get(ctx, "Secret", namespace, name, func() client.Object { return &corev1.Secret{} })
			reads[i] = secretRead{found: found, err: err}
			if found && err == nil {
				reads[i].secret = obj.(*corev1.Secret)
			}
		})
	}
	wg.Wait()
	return reads
}

// serviceAccountSecrets returns the names of the ServiceAccount's imagePullSecrets. When the
// template has its own (templateHasSecrets), the ServiceAccount's are only worth a note: the
// plugin will not copy them in, which surprises users who set both (docs/pull-semantics.md rule 18).
func (h *Handler) serviceAccountSecrets(ctx context.Context, namespace, saName string, templateHasSecrets bool) ([]string, string, CredentialRead, error) {
	obj, found, err := h.objects.get(ctx, "ServiceAccount", namespace, saName, func() client.Object { return &corev1.ServiceAccount{} })
	read := credentialRead("ServiceAccount", saName, obj, found, err)
	switch {
	case err != nil:
		logf.FromContext(ctx).Error(err, "reading ServiceAccount", "serviceAccount", saName)
		return nil, "", read, fmt.Errorf("ServiceAccount %q could not be read (%s)", saName, errorReason(err))
	case !found:
		return nil, fmt.Sprintf("ServiceAccount %q not found in namespace %q; pods will be rejected until it exists", saName, namespace), read, nil
	}
	var names []string
	for _, s := range obj.(*corev1.ServiceAccount).ImagePullSecrets {
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	if templateHasSecrets {
		if len(names) > 0 {
			return nil, fmt.Sprintf("ServiceAccount %q pull secrets [%s] are ignored because the pod template sets imagePullSecrets", saName, strings.Join(names, ", ")), read, nil
		}
		return nil, "", read, nil
	}
	return names, "", read, nil
}

// UnknownObjectError is what an API reader returns for an object it cannot say exists or not,
// as pullguard check's reader does for a pull secret its input names but does not hold. Unlike
// NotFound, after which the kubelet pulls without the secret, nothing can be concluded: the
// object may hold the credential that works, so the read counts as unreadable. Reason is what
// users read after "could not be read", and must hold no secret.
type UnknownObjectError struct{ Reason string }

func (e *UnknownObjectError) Error() string { return "object not known to the reader: " + e.Reason }

// errorReason is a short, secret-free cause for a failed read, for user-facing messages.
func errorReason(err error) string {
	if u, ok := errors.AsType[*UnknownObjectError](err); ok {
		return u.Reason
	}
	if r := apierrors.ReasonForError(err); r != "" {
		return strings.ToLower(string(r))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "API server error"
}
