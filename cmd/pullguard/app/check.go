package app

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kjson "sigs.k8s.io/json"

	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/manifest"
	"github.com/pullguard/pullguard/pkg/registry"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// result is the answer for one image at one field path of one object.
type result struct {
	// Object is Kind/name.
	Object    string
	Namespace string
	FieldPath string
	Image     string
	Outcome   registry.Outcome
	Class     registry.Class
	// Message is the webhook's wording (detail and fix); Fix alone, "" when none.
	Message    string
	Fix        string
	Credential string
	Platforms  []string
	File       string
	Line       int
}

// note is a finding that changes no outcome (a pull secret for another registry, a
// ServiceAccount outside the input), attributed like the webhook's warnings.
type note struct {
	Object  string
	Message string
	File    string
	Line    int
}

// report is everything one check found.
type report struct {
	Results []result
	Notes   []note
	// Skipped lists the objects of kinds pullguard does not check (shown with -v).
	Skipped []string
	// ClusterReads names the objects read from the cluster, and what it answered.
	ClusterReads []string
	// PlatformsChecked is false without --platform and without a cluster's labelled Nodes.
	PlatformsChecked bool
	// Checks is how many distinct image checks were asked of the engine.
	Checks int
}

// request is one distinct check: an image with one keyring and one set of platforms.
type request struct {
	image     string
	kr        *keyring.Keyring
	platforms string
}

// pending is an image of a workload waiting for its verdict.
type pending struct {
	res *result
	req request
	// saMissing names the ServiceAccount whose pull secrets the check had to do without.
	saMissing string
}

// runCheck reads the inputs, resolves each workload's credentials and platforms with the
// webhook's own code, checks every distinct image once, and returns what was found. cluster,
// when not nil, serves the Secrets and ServiceAccounts the input does not hold and, without
// --platform, the Nodes.
func runCheck(ctx context.Context, o checkOptions, stdin io.Reader, checker admission.Checker, cluster client.Reader, progress *progress) (*report, error) {
	objs, err := manifest.Read(o.Filenames, manifest.Options{Recursive: o.Recursive, Stdin: stdin, MaxFileBytes: o.MaxFileBytes})
	if err != nil {
		return nil, err
	}
	for _, dir := range o.Kustomizations {
		k, err := manifest.Kustomize(dir)
		if err != nil {
			return nil, err
		}
		objs = append(objs, k...)
	}
	var node *nodeCredentials
	if o.DockerConfig != "" {
		if node, err = loadDockerConfig(o.DockerConfig); err != nil {
			return nil, err
		}
	}
	plats, err := parsePlatforms(o.Platforms)
	if err != nil {
		return nil, err
	}

	inputs := newInputObjects(cluster)
	if node != nil {
		inputs.substitute = node.secret
	}
	nodes := platformNodes{nodes: nodesFor(plats)}
	if len(plats) == 0 && cluster != nil {
		var list corev1.NodeList
		if err := cluster.List(ctx, &list); err != nil {
			return nil, fmt.Errorf("listing the cluster's Nodes for their platforms: %w", err)
		}
		nodes.nodes = list.Items
	}
	rep := &report{PlatformsChecked: slices.ContainsFunc(nodes.nodes, func(n corev1.Node) bool {
		_, ok := admission.NodePlatform(&n)
		return ok
	})}
	type workload struct {
		obj *manifest.Object
		w   *admission.Workload
	}
	var workloads []workload
	for i := range objs {
		obj := &objs[i]
		ns := obj.Namespace
		if ns == "" {
			ns = o.Namespace
		}
		key := client.ObjectKey{Namespace: ns, Name: obj.Name}
		switch obj.GVK {
		case corev1.SchemeGroupVersion.WithKind("Secret"):
			s := &corev1.Secret{}
			if err := decodeStrict(obj, s); err != nil {
				return nil, err
			}
			// The API server merges stringData into data on write; the kubelet reads data.
			for k, v := range s.StringData {
				if s.Data == nil {
					s.Data = map[string][]byte{}
				}
				s.Data[k] = []byte(v)
			}
			inputs.secrets[key] = s
			continue
		case corev1.SchemeGroupVersion.WithKind("ServiceAccount"):
			sa := &corev1.ServiceAccount{}
			if err := decodeStrict(obj, sa); err != nil {
				return nil, err
			}
			inputs.serviceAccounts[key] = sa
			continue
		}
		w, ok, err := admission.DecodeWorkload(obj.GVK, obj.JSON)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s:%d: %s %q: %w", obj.Source, obj.Line, obj.GVK.Kind, obj.Name, err)
		case !ok:
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s:%d: %s %s/%s: not a kind pullguard checks", obj.Source, obj.Line, obj.GVK.GroupVersion(), obj.GVK.Kind, obj.Name))
			continue
		}
		workloads = append(workloads, workload{obj: obj, w: w})
	}

	cfg := admission.DefaultConfig()
	// The CLI's user holds the credentials it reads: it hears everything they reveal.
	cfg.TrustUnauthenticatedCallers = true
	// Every resolution must reach inputObjects, which records what it read.
	cfg.SecretCacheTTL = 0
	h, err := admission.NewHandler(cfg, checker, inputs, nodes, nil)
	if err != nil {
		return nil, err
	}

	keyrings := map[string]*keyring.Keyring{}
	candidates := map[string][]ocispec.Platform{}
	var todo []pending
	for _, wl := range workloads {
		obj, w := wl.obj, wl.w
		ns := w.Namespace()
		if ns == "" {
			ns = o.Namespace
		}
		name := w.Kind() + "/" + w.Name()
		addNote := func(path, msg string) {
			rep.Notes = append(rep.Notes, note{Object: name, Message: msg, File: obj.Source, Line: obj.FieldLine(path)})
		}

		inputs.begin()
		creds := h.Credentials(ctx, w, ns)
		for _, n := range creds.Notes {
			addNote("", n)
		}
		for _, s := range inputs.substituted {
			addNote("", admission.Attributed("", fmt.Sprintf("imagePullSecret %q is not in the input; the --docker-config login stands in for it", s)))
		}
		kr := creds.Keyring
		// A login that stood in for a pull secret is already in the keyring.
		nodeCreds := node != nil && len(inputs.substituted) == 0
		krKey := ns + "\x00" + strings.Join(inputs.readNames(), "\x00") + fmt.Sprintf("\x00%v", nodeCreds)
		if shared, ok := keyrings[krKey]; ok {
			kr = shared
		} else {
			if nodeCreds {
				kr = keyring.Union(kr, node.keyring)
			}
			keyrings[krKey] = kr
		}
		var saMissing string
		if w.Template() && len(w.PullSecretNames()) == 0 && len(inputs.missingSA) > 0 {
			saMissing = inputs.missingSA[0]
		}
		var cand []ocispec.Platform
		if rep.PlatformsChecked {
			if cand, err = h.CandidatePlatforms(ctx, w); err != nil {
				return nil, err
			}
		}
		platKey := platformsKey(cand)

		for _, im := range w.Images() {
			res := &result{Object: name, Namespace: ns, FieldPath: im.Path, Image: im.Image, File: obj.Source, Line: obj.FieldLine(im.Path)}
			switch {
			case im.PullPolicy == corev1.PullNever:
				addNote(im.Path, admission.Attributed(im.Path, admission.PullNeverNote))
				continue
			case len(creds.Unreadable) > 0:
				res.Outcome, res.Class, res.Message = registry.Unverifiable, classCredentialsUnreadable, admission.UnreadableMessage(creds.Unreadable)
				rep.Results = append(rep.Results, *res)
				continue
			}
			todo = append(todo, pending{res: res, req: request{image: im.Image, kr: kr, platforms: platKey}, saMissing: saMissing})
		}
		candidates[platKey] = cand
	}

	verdicts := checkDistinct(ctx, checker, todo, candidates, o.MaxConcurrentChecks, progress)
	rep.Checks = len(verdicts)
	for _, p := range todo {
		v := verdicts[p.req]
		r := p.res
		var msg string
		r.Outcome, msg = admission.VerdictMessage(r.Image, v)
		r.Class, r.Message, r.Fix, r.Credential, r.Platforms = v.Class, msg, v.Fix, v.Credential, v.Platforms
		if r.Outcome == registry.NotPullable && p.saMissing != "" && v.Credential == "anonymous" && authClass(v.Class) {
			// The cluster's ServiceAccount may carry the pull secret the input does not show.
			r.Outcome = registry.Unverifiable
			r.Message += fmt.Sprintf("; not verified: ServiceAccount %q is not in the input, and its imagePullSecrets may hold a credential for this registry: add it with -f, read it from the cluster with --kubeconfig or --context, or give the registry login with --docker-config", p.saMissing)
		}
		for _, n := range v.Notes {
			rep.Notes = append(rep.Notes, note{Object: r.Object, Message: admission.Attributed(r.FieldPath, n), File: r.File, Line: r.Line})
		}
		rep.Results = append(rep.Results, *r)
	}
	rep.ClusterReads = inputs.clusterReads()
	return rep, nil
}

// classCredentialsUnreadable is the class of an image whose pull secrets could not all be
// read, named as the webhook's metrics name that reason.
const classCredentialsUnreadable registry.Class = "credentials_unreadable"

// authClass: refusals that a credential the input does not show could turn into a pull.
func authClass(c registry.Class) bool {
	return c == registry.ClassUnauthorized || c == registry.ClassForbidden || c == registry.ClassRepositoryNotFound
}

func platformsKey(ps []ocispec.Platform) string {
	keys := make([]string, len(ps))
	for i, p := range ps {
		keys[i] = platforms.FormatAll(p)
	}
	return strings.Join(keys, ",")
}

// nodesFor describes each --platform as a Node with the well-known labels.
func nodesFor(ps []ocispec.Platform) []corev1.Node {
	nodes := make([]corev1.Node, len(ps))
	for i, p := range ps {
		nodes[i] = corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:   "platform-" + platforms.Format(p),
			Labels: map[string]string{corev1.LabelOSStable: p.OS, corev1.LabelArchStable: p.Architecture},
		}}
	}
	return nodes
}

// checkDistinct asks the engine about each distinct request once, at most limit at a time.
// The engine's own cache and coalescing still apply across requests that share a reference,
// and the requests with one keyring are one registry.Batch, as an admission's images are: their
// repositories on one registry with one credential share a /v2/ ping and a token request.
func checkDistinct(ctx context.Context, checker admission.Checker, todo []pending, candidates map[string][]ocispec.Platform, limit int, progress *progress) map[request]registry.Verdict {
	var distinct []request
	seen := map[request]bool{}
	plats := map[request][]ocispec.Platform{}
	images := map[*keyring.Keyring][]string{}
	for _, p := range todo {
		if !seen[p.req] {
			seen[p.req] = true
			distinct = append(distinct, p.req)
			plats[p.req] = candidates[p.req.platforms]
			// A Batch counts each repository once, whatever its images' repeats.
			images[p.req.kr] = append(images[p.req.kr], p.req.image)
		}
	}
	batches := make(map[*keyring.Keyring]*registry.Batch, len(images))
	for kr, ims := range images {
		batches[kr] = registry.NewBatch(ims, kr)
	}
	var mu sync.Mutex
	var done atomic.Int64
	verdicts := make(map[request]registry.Verdict, len(distinct))
	g := errgroup.Group{}
	g.SetLimit(limit)
	progress.start(len(distinct))
	for _, req := range distinct {
		g.Go(func() error {
			v := checker.Check(ctx, registry.Request{Image: req.image, Keyring: req.kr, Platforms: plats[req],
				// The CLI's user holds the credentials it reads: what they reveal is theirs to see.
				TrustedCaller: true, Batch: batches[req.kr]})
			mu.Lock()
			verdicts[req] = v
			mu.Unlock()
			progress.set(int(done.Add(1)))
			return nil
		})
	}
	_ = g.Wait()
	progress.stop()
	return verdicts
}

// decodeStrict decodes a Secret or ServiceAccount of the input as the API server would
// accept it; a malformed one is an input error rather than a credential silently lost.
func decodeStrict(obj *manifest.Object, into any) error {
	strict, err := kjson.UnmarshalStrict(obj.JSON, into)
	if err == nil && len(strict) > 0 {
		err = strict[0]
	}
	if err != nil {
		return fmt.Errorf("%s:%d: %s %q: %w", obj.Source, obj.Line, obj.GVK.Kind, obj.Name, err)
	}
	return nil
}

// sortResults orders results by file, line and field path, for stable output.
func sortResults(rs []result) {
	slices.SortStableFunc(rs, func(a, b result) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return strings.Compare(a.FieldPath, b.FieldPath)
	})
}
