package testbed

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// auditPolicy logs, at Metadata level, every request on the kinds pullguard admits, so the
// annotations the API server records from webhook responses (audit mode's output) can be read
// back. Everything else is left out to keep the log small.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  resources:
  - group: ""
    resources: ["pods", "pods/ephemeralcontainers", "replicationcontrollers"]
  - group: "apps"
    resources: ["deployments", "statefulsets", "daemonsets", "replicasets"]
  - group: "batch"
    resources: ["jobs", "cronjobs"]
- level: None
`

// ControlPlane is etcd and kube-apiserver started by envtest.
type ControlPlane struct {
	env *envtest.Environment
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface
	// KubeconfigPath is an admin kubeconfig for the real kubectl.
	KubeconfigPath string
	// AuditLogPath is the API server's audit log (JSON lines).
	AuditLogPath string
	// WebhookClientCAFile is the CA of the client certificate the API server presents to
	// webhooks (admissionauth.go): a webhook's --client-ca-file.
	WebhookClientCAFile string
	dir                 string
}

// StartControlPlane starts etcd and kube-apiserver with the audit log on, installs the cert-manager
// CRDs from the cert-manager Go module, and writes an admin kubeconfig under dir.
func StartControlPlane(ctx context.Context, bins Binaries, dir string) (*ControlPlane, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the control plane directory: %w", err)
	}
	crds, err := certManagerCRDDir(ctx)
	if err != nil {
		return nil, err
	}
	policyPath := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policyPath, []byte(auditPolicy), 0o600); err != nil {
		return nil, fmt.Errorf("writing the audit policy: %w", err)
	}
	cp := &ControlPlane{dir: dir, AuditLogPath: filepath.Join(dir, "audit.log")}
	admissionConfigPath, clientCA, err := writeAdmissionAuth(dir)
	if err != nil {
		return nil, err
	}
	cp.WebhookClientCAFile = clientCA

	env := &envtest.Environment{
		CRDInstallOptions: envtest.CRDInstallOptions{
			Paths:              []string{crds},
			ErrorIfPathMissing: true,
		},
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  20 * time.Second,
	}
	api := env.ControlPlane.GetAPIServer()
	api.Path = bins.KubeAPIServer
	env.ControlPlane.Etcd = &envtest.Etcd{Path: bins.Etcd}
	env.ControlPlane.KubectlPath = bins.Kubectl
	args := api.Configure()
	args.Set("audit-policy-file", policyPath)
	args.Set("audit-log-path", cp.AuditLogPath)
	args.Set("admission-control-config-file", admissionConfigPath)
	// envtest disables the ServiceAccount admission plugin so pods need no ServiceAccount; the bed
	// turns it back on because in a real cluster it copies the ServiceAccount's imagePullSecrets
	// into the pod before any webhook sees it. Namespace gives every namespace its "default" one.
	args.Disable("disable-admission-plugins")

	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	cp.env = env
	cp.Config = cfg

	user, err := env.AddUser(envtest.User{Name: "pullguard-e2e-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		_ = cp.Stop()
		return nil, fmt.Errorf("provisioning the kubectl user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		_ = cp.Stop()
		return nil, fmt.Errorf("rendering the kubectl kubeconfig: %w", err)
	}
	cp.KubeconfigPath = filepath.Join(dir, "admin.kubeconfig")
	if err := os.WriteFile(cp.KubeconfigPath, kubeconfig, 0o600); err != nil {
		_ = cp.Stop()
		return nil, fmt.Errorf("writing the kubeconfig: %w", err)
	}
	cp.Client, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		_ = cp.Stop()
		return nil, fmt.Errorf("building a clientset: %w", err)
	}
	return cp, nil
}

// UserKubeconfig provisions a client-certificate user with the given name and groups (no groups
// are added: RBAC decides what it may do) and writes its kubeconfig under the control plane's
// directory.
func (cp *ControlPlane) UserKubeconfig(name string, groups ...string) (string, error) {
	user, err := cp.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return "", fmt.Errorf("provisioning user %q: %w", name, err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("rendering the kubeconfig of %q: %w", name, err)
	}
	path := filepath.Join(cp.dir, strings.NewReplacer(":", "_", "/", "_").Replace(name)+".kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		return "", fmt.Errorf("writing the kubeconfig of %q: %w", name, err)
	}
	return path, nil
}

// Stop stops kube-apiserver and etcd.
func (cp *ControlPlane) Stop() error {
	if cp == nil || cp.env == nil {
		return nil
	}
	if err := cp.env.Stop(); err != nil {
		return fmt.Errorf("stopping the control plane: %w", err)
	}
	return nil
}

// AuditEvents reads the audit log written so far.
func (cp *ControlPlane) AuditEvents() ([]auditv1.Event, error) {
	f, err := os.Open(cp.AuditLogPath)
	if err != nil {
		return nil, fmt.Errorf("opening the audit log: %w", err)
	}
	defer f.Close()
	var events []auditv1.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var ev auditv1.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			// The API server may be half-way through writing the last line.
			continue
		}
		events = append(events, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	return events, nil
}

// certManagerCRDDir finds deploy/crds in the github.com/cert-manager/cert-manager module that
// go.mod pins, downloading the module through the Go module proxy if the cache lacks it.
func certManagerCRDDir(ctx context.Context) (string, error) {
	const mod = "github.com/cert-manager/cert-manager"
	dir, err := goListModuleDir(ctx, mod)
	if err != nil {
		return "", err
	}
	if dir == "" {
		dl := exec.CommandContext(ctx, "go", "mod", "download", mod)
		if out, err := dl.CombinedOutput(); err != nil {
			return "", fmt.Errorf("downloading %s: %w: %s", mod, err, out)
		}
		if dir, err = goListModuleDir(ctx, mod); err != nil {
			return "", err
		}
	}
	crds := filepath.Join(dir, "deploy", "crds")
	if _, err := os.Stat(filepath.Join(crds, "cert-manager.io_certificates.yaml")); err != nil {
		return "", fmt.Errorf("cert-manager CRDs not found in %s: %w", crds, err)
	}
	return crds, nil
}

func goListModuleDir(ctx context.Context, mod string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", mod).Output()
	if err != nil {
		return "", fmt.Errorf("locating module %s with `go list -m` (is it in go.mod?): %w", mod, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// RepoRoot is the directory of the main module (where manifests/, certs/ and examples/ live).
func RepoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("locating the module root with `go env GOMOD`: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the pullguard module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}
