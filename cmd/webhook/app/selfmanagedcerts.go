package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/pullguard/pullguard/pkg/config"
)

// certificatesSection is the config-file section of the self-managed certificate settings.
const certificatesSection = "certificates"

// SelfManagedCerts are the settings of --self-managed-certs: the webhook makes its own CA and
// serving certificate with cert-controller's rotator (as Gatekeeper does), keeps them in a
// Secret of its namespace, renews them before they expire and writes the CA into its own
// ValidatingWebhookConfiguration. The Secret reaches the server as the cert-dir volume, as any
// other serving certificate does, so every replica serves what the Secret holds.
type SelfManagedCerts struct {
	Enabled bool
	// SecretNamespace and SecretName name the Secret the rotator fills (ca.crt, ca.key,
	// tls.crt, tls.key). It must exist: the rotator updates it, never creates it, so that its
	// RBAC can name it.
	SecretNamespace string
	SecretName      string
	// WebhookConfiguration is the ValidatingWebhookConfiguration whose caBundle it writes.
	WebhookConfiguration string
	// DNSNames are the serving certificate's names; the first is the one checked on renewal.
	DNSNames []string
	// CADuration and Duration are the lifetimes of the CA and the serving certificate; each is
	// replaced RenewBefore its expiry, checked every CheckInterval.
	CADuration    time.Duration
	Duration      time.Duration
	RenewBefore   time.Duration
	CheckInterval time.Duration
}

// defaultSelfManagedCerts names what manifests/ and the chart's default release install.
func defaultSelfManagedCerts() SelfManagedCerts {
	return SelfManagedCerts{
		SecretNamespace:      "pullguard-system",
		SecretName:           "pullguard-webhook-tls",
		WebhookConfiguration: "pullguard",
		DNSNames:             []string{"pullguard-webhook.pullguard-system.svc", "pullguard-webhook.pullguard-system.svc.cluster.local"},
		// The lifetimes cert-manager mode uses (charts/pullguard certificates.certManager).
		CADuration:    87600 * time.Hour,
		Duration:      2160 * time.Hour,
		RenewBefore:   360 * time.Hour,
		CheckInterval: time.Hour,
	}
}

func (c *SelfManagedCerts) addFlags(fs *pflag.FlagSet) {
	b := config.NewBinder(fs, certificatesSection)
	b.Bool(&c.Enabled, "self-managed-certs", "selfManaged",
		"Make, renew and publish the serving certificate without cert-manager: a CA and a certificate in --cert-secret-name, the CA in --cert-webhook-configuration's caBundle. The Secret must exist and be mounted at --cert-dir.")
	b.String(&c.SecretNamespace, "cert-secret-namespace", "secretNamespace",
		"Namespace of the self-managed certificate's Secret: the webhook's own.")
	b.String(&c.SecretName, "cert-secret-name", "secretName", "Name of the self-managed certificate's Secret.")
	b.String(&c.WebhookConfiguration, "cert-webhook-configuration", "webhookConfiguration",
		"ValidatingWebhookConfiguration whose caBundle gets the self-managed CA.")
	b.StringSlice(&c.DNSNames, "cert-dns-names", "dnsNames",
		"DNS names of the self-managed serving certificate (the Service's <name>.<namespace>.svc first).")
	b.Duration(&c.CADuration, "cert-ca-duration", "caDuration", "Lifetime of the self-managed CA.")
	b.Duration(&c.Duration, "cert-duration", "duration", "Lifetime of the self-managed serving certificate.")
	b.Duration(&c.RenewBefore, "cert-renew-before", "renewBefore",
		"How long before expiry the self-managed CA or serving certificate is replaced.")
	b.Duration(&c.CheckInterval, "cert-check-interval", "checkInterval",
		"How often the self-managed certificates are checked for renewal.")
}

// validate checks the settings even when self-management is off, so that a config file is
// wrong or right whatever the flag says.
func (c SelfManagedCerts) validate() field.ErrorList {
	p := field.NewPath(certificatesSection)
	var errs field.ErrorList
	for _, n := range []struct {
		key, value string
		check      func(string) []string
	}{
		{"secretNamespace", c.SecretNamespace, validation.IsDNS1123Label},
		{"secretName", c.SecretName, validation.IsDNS1123Subdomain},
		{"webhookConfiguration", c.WebhookConfiguration, validation.IsDNS1123Subdomain},
	} {
		if msgs := n.check(n.value); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child(n.key), n.value, msgs[0]))
		}
	}
	if len(c.DNSNames) == 0 {
		errs = append(errs, field.Required(p.Child("dnsNames"), "the serving certificate needs a name"))
	}
	for i, n := range c.DNSNames {
		if msgs := validation.IsDNS1123Subdomain(n); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("dnsNames").Index(i), n, msgs[0]))
		}
	}
	durations := []struct {
		key string
		d   time.Duration
	}{{"caDuration", c.CADuration}, {"duration", c.Duration}, {"renewBefore", c.RenewBefore}, {"checkInterval", c.CheckInterval}}
	positive := true
	for _, d := range durations {
		if d.d <= 0 {
			errs = append(errs, field.Invalid(p.Child(d.key), d.d.String(), "must be positive"))
			positive = false
		}
	}
	if !positive {
		return errs
	}
	// The rotator renews a certificate that will not verify RenewBefore from now: a serving
	// certificate or CA no longer than that would be replaced at every check, and one checked
	// less often than that could expire between two checks.
	if c.RenewBefore >= c.Duration {
		errs = append(errs, field.Invalid(p.Child("renewBefore"), c.RenewBefore.String(), fmt.Sprintf("must be below %s (%s)", flagOf(p.Child("duration")), c.Duration)))
	}
	if c.Duration > c.CADuration {
		errs = append(errs, field.Invalid(p.Child("duration"), c.Duration.String(), fmt.Sprintf("must not exceed %s (%s): the CA signs it", flagOf(p.Child("caDuration")), c.CADuration)))
	}
	if c.CheckInterval >= c.RenewBefore {
		errs = append(errs, field.Invalid(p.Child("checkInterval"), c.CheckInterval.String(), fmt.Sprintf("must be below %s (%s)", flagOf(p.Child("renewBefore")), c.RenewBefore)))
	}
	return errs
}

// selfManagedCerts is --self-managed-certs at run time: the rotator, and the serving
// certificate the webhook server presents once the rotator says it is in place.
type selfManagedCerts struct {
	settings SelfManagedCerts
	certDir  string
	// ready is the rotator's IsReady: closed once the Secret holds a valid certificate, the
	// cert dir has it and the CA is in the webhook configuration.
	ready   chan struct{}
	serving atomic.Pointer[certwatcher.CertWatcher]
}

func newSelfManagedCerts(opts Options) *selfManagedCerts {
	return &selfManagedCerts{settings: opts.Certificates, certDir: opts.CertDir, ready: make(chan struct{})}
}

// errCertificatePending is the handshake error until the rotator's certificate is in place.
var errCertificatePending = errors.New("the self-managed serving certificate is not in place yet")

// tlsOption makes the webhook server take its certificate from here. controller-runtime's server
// would read the cert dir once when it starts and fail when it is still empty, as it is on a
// first install until the kubelet has copied the rotator's Secret into the volume.
func (s *selfManagedCerts) tlsOption(c *tls.Config) {
	c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		w := s.serving.Load()
		if w == nil {
			return nil, errCertificatePending
		}
		return w.GetCertificate(hello)
	}
}

// readyCheck fails until the rotator is ready, so no Service sends the API server to a replica
// that has no certificate, or one the caBundle does not verify yet.
func (s *selfManagedCerts) readyCheck(*http.Request) error {
	select {
	case <-s.ready:
		return nil
	default:
		return errCertificatePending
	}
}

// setup adds the rotator and the certificate watcher to mgr.
func (s *selfManagedCerts) setup(mgr manager.Manager) error {
	c := s.settings
	r := &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: c.SecretNamespace, Name: c.SecretName},
		CertDir:        s.certDir,
		CAName:         "pullguard-ca",
		CAOrganization: "pullguard",
		DNSName:        c.DNSNames[0],
		ExtraDNSNames:  c.DNSNames[1:],
		IsReady:        s.ready,
		Webhooks:       []rotator.WebhookInfo{{Name: c.WebhookConfiguration, Type: rotator.Validating}},
		FieldOwner:     "pullguard-cert-rotator",
		// Every replica runs the rotator: a webhook has no leader, and the first to find the
		// Secret empty fills it while the others read what it wrote (an update conflict sends
		// them back to read it).
		RequireLeaderElection:  false,
		CaCertDuration:         c.CADuration,
		ServerCertDuration:     c.Duration,
		LookaheadInterval:      c.RenewBefore,
		RotationCheckFrequency: c.CheckInterval,
		// The certificate watcher reloads a renewed certificate in place; exiting would drop
		// in-flight admissions.
		RestartOnSecretRefresh: false,
		EnableReadinessCheck:   true,
	}
	if err := rotator.AddRotator(nameScopedManager{Manager: mgr, names: c.watchedNames()}, r); err != nil {
		return fmt.Errorf("setting up the self-managed certificates: %w", err)
	}
	return mgr.Add(manager.RunnableFunc(s.watchServingCert))
}

// watchServingCert waits for the rotator, then serves the cert dir's certificate, reloading it
// whenever the kubelet updates the volume (on renewal).
func (s *selfManagedCerts) watchServingCert(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.ready:
	}
	w, err := certwatcher.New(filepath.Join(s.certDir, "tls.crt"), filepath.Join(s.certDir, "tls.key"))
	if err != nil {
		return fmt.Errorf("loading the self-managed serving certificate: %w", err)
	}
	s.serving.Store(w)
	return w.Start(ctx)
}

// watchedNames are the only objects the rotator lists and watches: its Secret and the webhook
// configuration, so its RBAC names them (resourceNames) instead of granting every Secret of the
// namespace and every webhook configuration of the cluster.
func (c SelfManagedCerts) watchedNames() map[string]string {
	return map[string]string{
		"/api/v1/namespaces/" + c.SecretNamespace + "/secrets":                  c.SecretName,
		"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations": c.WebhookConfiguration,
	}
}

// nameScopedManager is mgr for the rotator, with a client configuration whose list and watch
// requests on the watched collections carry a metadata.name field selector. cert-controller
// builds its own cache from GetConfig without a way to pass selectors; the API server
// authorizes a list or watch with such a selector against resourceNames.
type nameScopedManager struct {
	manager.Manager
	names map[string]string
}

func (m nameScopedManager) GetConfig() *rest.Config {
	cfg := rest.CopyConfig(m.Manager.GetConfig())
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return nameScoped{next: rt, names: m.names} })
	return cfg
}
