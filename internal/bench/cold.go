package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrladmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/internal/testregistry"
	"github.com/pullguard/pullguard/pkg/registry"
	"github.com/pullguard/pullguard/pkg/registry/egress"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// pullSecret holds the bed's reader account for the token-auth registry at hosts (default: its
// own address).
func (c *Cluster) pullSecret(hosts ...string) corev1.Secret {
	if len(hosts) == 0 {
		hosts = []string{c.Bed.Registry.Host}
	}
	auths := map[string]any{}
	for _, h := range hosts {
		auths[h] = map[string]string{"username": testbed.Reader.Username, "password": testbed.Reader.Password}
	}
	doc, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		panic(err) // a map of strings always encodes
	}
	return corev1.Secret{
		// A UID and a resourceVersion, as the API server gives every object (the fake client
		// gives no UID), so that the handler's keyring cache, keyed by both, works as in a cluster.
		ObjectMeta: metav1.ObjectMeta{Name: PullSecret, Namespace: benchNamespace, UID: types.UID("bench-" + PullSecret), ResourceVersion: "1"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: doc},
	}
}

// ColdResult compares, for one new image on the bed's token-auth registry, the registry
// engine's time to a verdict with a fresh engine (new connections, ping, token, HEAD) against
// go-containerregistry's remote.Head with a fresh transport and the same credentials: the
// physical limit of the same round trips.
type ColdResult struct {
	Check, Head Latencies
}

// Ratio is the engine's median over the bare HEAD's (target <= 1.2).
func (r ColdResult) Ratio() float64 { return ratio(r.Check.P50(), r.Head.P50()) }

func (r ColdResult) String() string {
	return fmt.Sprintf("cold check p50 %s, bare HEAD p50 %s (n=%d)", ms(r.Check.P50()), ms(r.Head.P50()), len(r.Check))
}

// MeasureColdCheck alternates a cold check and a bare HEAD of the private fixture iterations
// times.
func (c *Cluster) MeasureColdCheck(ctx context.Context, iterations int) (ColdResult, error) {
	image := c.Bed.Images.Private
	ref, err := name.ParseReference(image, name.StrictValidation)
	if err != nil {
		return ColdResult{}, fmt.Errorf("parsing %s: %w", image, err)
	}
	opts := engineOptions(c.Bed.LoopbackCAFile())
	kr := keyring.FromSecrets([]corev1.Secret{c.pullSecret()})
	auth := authn.FromConfig(authn.AuthConfig{Username: testbed.Reader.Username, Password: testbed.Reader.Password})
	check := func() (time.Duration, error) {
		checker, err := registry.New(opts)
		if err != nil {
			return 0, err
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		start := time.Now()
		v := checker.Check(cctx, registry.Request{Image: image, Keyring: kr})
		took := time.Since(start)
		if v.Outcome != registry.Pullable || v.Cached {
			return 0, fmt.Errorf("cold check of %s: %s/%s (cached %v): %s", image, v.Outcome, v.Class, v.Cached, v.Message())
		}
		return took, nil
	}
	head := func() (time.Duration, error) {
		rt, err := egress.New(opts.Egress, nil)
		if err != nil {
			return 0, fmt.Errorf("building the guarded transport: %w", err)
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		start := time.Now()
		if _, err := remote.Head(ref, remote.WithContext(cctx), remote.WithTransport(rt), remote.WithAuth(auth)); err != nil {
			return 0, fmt.Errorf("bare HEAD of %s: %w", image, err)
		}
		return time.Since(start), nil
	}
	var res ColdResult
	for i := range iterations + 2 {
		first, second := check, head
		if i%2 == 1 {
			first, second = head, check
		}
		a, err := first()
		if err != nil {
			return res, err
		}
		b, err := second()
		if err != nil {
			return res, err
		}
		if i < 2 {
			continue // warm-up: code paths, the registry's own caches
		}
		if i%2 == 1 {
			a, b = b, a
		}
		res.Check, res.Head = append(res.Check, a), append(res.Head, b)
	}
	return res, nil
}

// FanOutResult compares the handler's time to answer for a pod with n new images against the
// slowest of the same images admitted one per pod, every admission on a fresh engine.
type FanOutResult struct {
	Images int
	// RTT is the latency added to every registry and token request (0: plain loopback).
	RTT     time.Duration
	Pod     Latencies
	Slowest Latencies
	// Sum is the sum of the single-image admissions: what a serial check would take.
	Sum Latencies
	// PodCPU and SingleCPU are the CPU time used while the handler answered the measured
	// n-image pods and the one-image pods, summed over the iterations.
	PodCPU, SingleCPU CPUUse
}

// PerImage is u per image checked: u summed over the measured iterations of n images.
func (r FanOutResult) PerImage(u CPUUse) CPUUse {
	d := time.Duration(max(len(r.Pod)*r.Images, 1))
	return CPUUse{Wall: u.Wall / d, Self: u.Self / d, Registry: u.Registry / d, Machine: u.Machine / d}
}

// Ratio is the pod's median over the median of the slowest single check (target <= 1.5).
func (r FanOutResult) Ratio() float64 { return ratio(r.Pod.P50(), r.Slowest.P50()) }

func (r FanOutResult) String() string {
	return fmt.Sprintf("RTT %s: pod with %d new images p50 %s, slowest single check p50 %s, serial sum p50 %s (n=%d)",
		r.RTT, r.Images, ms(r.Pod.P50()), ms(r.Slowest.P50()), ms(r.Sum.P50()), len(r.Pod))
}

// MeasureFanOut pushes n images to n repositories of the token-auth registry (each needs its
// own token) and admits, iterations times, a pod with all of them and then n pods with one each,
// through pullguard's admission handler on fresh registry engines. With rtt > 0 the registry and
// its token service are reached through a front that delays every request by rtt, as a registry
// across a network would be; on plain loopback a cold check is bound by the CPU the machine's
// processes share, not by round trips.
func (c *Cluster) MeasureFanOut(ctx context.Context, n, iterations int, rtt time.Duration) (FanOutResult, error) {
	res := FanOutResult{Images: n, RTT: rtt}
	images, _, err := c.freshImages(ctx, "fanout", n)
	if err != nil {
		return res, err
	}
	secret := c.pullSecret()
	if rtt > 0 {
		front, err := c.StartFaultFront(Fault{Registry: testregistry.Fault{RTT: rtt}, Token: &TokenFault{Delay: rtt}})
		if err != nil {
			return res, err
		}
		defer front.Close()
		for i, image := range images {
			images[i] = front.Host + strings.TrimPrefix(image, c.Bed.Registry.Host)
		}
		secret = c.pullSecret(front.Host)
	}
	opts := engineOptions(c.Bed.LoopbackCAFile())
	registryPID := c.Bed.Registry.PID()
	// admit answers a pod running images on a fresh engine, adding the CPU time the answer
	// took to use unless it is nil.
	admit := func(use *CPUUse, images ...string) (time.Duration, error) {
		checker, err := registry.New(opts)
		if err != nil {
			return 0, err
		}
		h, err := newHandler(checker, &secret)
		if err != nil {
			return 0, err
		}
		req, err := podRequest(images)
		if err != nil {
			return 0, err
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		before, err := sampleCPU(registryPID)
		if err != nil {
			return 0, err
		}
		// The latency excludes the samples' reads of /proc; the CPU windows include them.
		start := time.Now()
		resp := h.Handle(cctx, req)
		took := time.Since(start)
		after, err := sampleCPU(registryPID)
		if err != nil {
			return 0, err
		}
		if use != nil {
			use.add(before, after)
		}
		if !resp.Allowed || len(resp.Warnings) > 0 {
			return 0, fmt.Errorf("admission of %d images: allowed=%v %v %q", len(images), resp.Allowed, resp.Result, resp.Warnings)
		}
		return took, nil
	}
	for i := range iterations + 1 {
		podCPU, singleCPU := &res.PodCPU, &res.SingleCPU
		if i == 0 {
			podCPU, singleCPU = nil, nil // warm-up
		}
		pod, err := admit(podCPU, images...)
		if err != nil {
			return res, err
		}
		var slowest, sum time.Duration
		for _, image := range images {
			d, err := admit(singleCPU, image)
			if err != nil {
				return res, err
			}
			slowest, sum = max(slowest, d), sum+d
		}
		if i == 0 {
			continue // warm-up
		}
		res.Pod, res.Slowest, res.Sum = append(res.Pod, pod), append(res.Slowest, slowest), append(res.Sum, sum)
	}
	return res, nil
}

// podRequest is the admission request for a Pod CREATE in benchNamespace running images with
// PullSecret.
func podRequest(images []string) (ctrladmission.Request, error) {
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: benchNamespace},
		Spec:       corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: PullSecret}}},
	}
	for i, image := range images {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: image})
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		return ctrladmission.Request{}, fmt.Errorf("encoding the pod: %w", err)
	}
	return ctrladmission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "fan-out",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Name:      pod.Name,
		Namespace: pod.Namespace,
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: raw},
	}}, nil
}
