package admission

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestObjectCacheIsBoundedByBytes: Secrets of 1 MiB never make the object cache weigh more than
// Config.SecretCacheBytes, what it keeps of a Secret is the data key its type makes the kubelet
// read (not every key), and an ordinary Secret is still served from the cache.
func TestObjectCacheIsBoundedByBytes(t *testing.T) {
	var objs []client.Object
	for i := range 12 {
		s := pullSecret(testNS, fmt.Sprintf("large-%d", i), "large.example.com")
		s.Data["padding"] = make([]byte, 1<<20)                                                                   // read by no one
		s.Data[corev1.DockerConfigJsonKey] = append(s.Data[corev1.DockerConfigJsonKey], make([]byte, 512<<10)...) // kept
		objs = append(objs, s)
	}
	objs = append(objs, pullSecret(testNS, "ordinary", "reg.example.com"))
	reads := 0
	reader := countingReader{Reader: fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(objs...).Build(), n: &reads}
	cfg := testConfig(func(c *Config) { c.SecretCacheTTL, c.SecretCacheBytes = time.Minute, 2<<20 })
	c := newObjectCache(reader, cfg, clock.RealClock{})
	get := func(name string) *corev1.Secret {
		t.Helper()
		obj, found, err := c.get(context.Background(), "Secret", testNS, name, func() client.Object { return &corev1.Secret{} })
		if err != nil || !found {
			t.Fatalf("get %s: found %v, %v", name, found, err)
		}
		return obj.(*corev1.Secret)
	}
	for i := range 12 {
		s := get(fmt.Sprintf("large-%d", i))
		if _, ok := s.Data["padding"]; ok || len(s.Data) != 1 {
			t.Fatalf("cached %d data keys (%v present), want only %s", len(s.Data), ok, corev1.DockerConfigJsonKey)
		}
		if got := c.lru.Bytes(); got > cfg.SecretCacheBytes {
			t.Fatalf("cached objects weigh %d B, more than the %d B bound", got, cfg.SecretCacheBytes)
		}
	}
	get("ordinary")
	before := reads
	if get("ordinary"); reads != before {
		t.Error("an ordinary secret was read again within its TTL")
	}
}

// countingReader counts the GETs that reach the API.
type countingReader struct {
	client.Reader
	n *int
}

func (r countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	*r.n++
	return r.Reader.Get(ctx, key, obj, opts...)
}
