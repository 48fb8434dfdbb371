package admission

import (
	"slices"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// versioned is pullSecret for host with the UID and resourceVersion an API server gives it.
func versioned(name, host, uid, rv string) corev1.Secret {
	s := pullSecret(testNS, name, host)
	s.UID, s.ResourceVersion = types.UID(uid), rv
	return *s
}

// TestKeyringCache: a list of secret versions is decoded once; another version, another order,
// or a secret without UID or resourceVersion gets a keyring of its own, built as
// keyring.FromSecrets builds it.
func TestKeyringCache(t *testing.T) {
	a := versioned("a", "a.example.com", "uid-a", "1")
	b := versioned("b", "b.example.com", "uid-b", "7")
	tests := map[string]struct {
		first, second []corev1.Secret
		ttl           time.Duration
		shared        bool
	}{
		"same versions share one keyring":  {first: []corev1.Secret{a, b}, second: []corev1.Secret{a, b}, ttl: time.Minute, shared: true},
		"no secrets share one keyring":     {first: nil, second: []corev1.Secret{}, ttl: time.Minute, shared: true},
		"an updated secret is decoded":     {first: []corev1.Secret{a, b}, second: []corev1.Secret{a, versioned("b", "c.example.com", "uid-b", "8")}, ttl: time.Minute},
		"a recreated secret is decoded":    {first: []corev1.Secret{a}, second: []corev1.Secret{versioned("a", "c.example.com", "uid-a2", "1")}, ttl: time.Minute},
		"another order is another keyring": {first: []corev1.Secret{a, b}, second: []corev1.Secret{b, a}, ttl: time.Minute},
		"a secret without UID is not cached": {first: []corev1.Secret{*pullSecret(testNS, "x", "x.example.com")},
			second: []corev1.Secret{*pullSecret(testNS, "x", "x.example.com")}, ttl: time.Minute},
		"a TTL of 0 caches nothing": {first: []corev1.Secret{a}, second: []corev1.Secret{a}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newKeyringCache(testConfig(func(c *Config) { c.SecretCacheTTL = tc.ttl }), clock.RealClock{})
			first, second := c.get(tc.first), c.get(tc.second)
			if (first == second) != tc.shared {
				t.Errorf("shared = %v, want %v", first == second, tc.shared)
			}
			for i, got := range []*keyring.Keyring{first, second} {
				want := keyring.FromSecrets([][]corev1.Secret{tc.first, tc.second}[i])
				if !slices.Equal(got.Keys(), want.Keys()) || got.ExplainID() != want.ExplainID() {
					t.Errorf("keyring %d has keys %q (%s), want %q (%s)", i, got.Keys(), got.ExplainID(), want.Keys(), want.ExplainID())
				}
			}
		})
	}
}

// TestWarmAdmissionsShareTheKeyring: admissions of the same workload with the same pull secret
// check their images with one keyring, decoded once.
func TestWarmAdmissionsShareTheKeyring(t *testing.T) {
	secret := versioned("regcred", "reg.example.com", "uid-regcred", "3")
	e := newEnv(t, testConfig(), nil, &secret, serviceAccount(testNS, "default"))
	d := deployment(func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.ImagePullSecrets = refs("regcred")
		d.Spec.Template.Spec.Containers[0].Image = "reg.example.com/app:1"
	})
	for range 2 {
		if resp := e.h.Handle(testContext(t), review(t, admissionv1.Create, d, nil)); !resp.Allowed || len(resp.Warnings) > 0 {
			t.Fatalf("allowed=%v warnings %q", resp.Allowed, resp.Warnings)
		}
	}
	reqs := e.checker.requests()
	if len(reqs) != 2 || reqs[0].Keyring != reqs[1].Keyring {
		t.Fatalf("%d checks, keyrings shared: %v; want 2 checks with one keyring", len(reqs), len(reqs) == 2 && reqs[0].Keyring == reqs[1].Keyring)
	}
	if got := secretNames(reqs[1], "reg.example.com/app"); !slices.Equal(got, []string{"regcred"}) {
		t.Errorf("credentials from %q, want regcred", got)
	}
}

// TestKeyringCacheIsBoundedByBytes: large pull secrets, each list of them an entry of its own,
// never make the cached keyrings weigh more than Config.KeyringCacheBytes; a keyring heavier than the
// bound is rebuilt per admission, and an ordinary one is still shared.
func TestKeyringCacheIsBoundedByBytes(t *testing.T) {
	cfg := testConfig(func(c *Config) { c.SecretCacheTTL = time.Minute })
	keyringCacheBytes := cfg.KeyringCacheBytes
	c := newKeyringCache(cfg, clock.RealClock{})
	large := func(uid string) corev1.Secret {
		s := versioned("large-"+uid, "large.example.com", uid, "1")
		// A dockerconfigjson of 1 MiB: the bytes, not their content, give the weight.
		s.Data["padding"] = make([]byte, 1<<20)
		return s
	}
	l1, l2, l3 := large("uid-l1"), large("uid-l2"), large("uid-l3")
	for _, list := range [][]corev1.Secret{{l1}, {l2}, {l3}, {l1, l2}, {l2, l1}, {l1, l3}, {l3, l1}, {l2, l3}} {
		c.get(list)
		if got := c.lru.Bytes(); got > keyringCacheBytes {
			t.Fatalf("cached keyrings weigh %d B, more than the %d B bound", got, keyringCacheBytes)
		}
	}
	huge := large("uid-huge")
	huge.Data["padding"] = make([]byte, int(keyringCacheBytes)/keyringBytesPerSecretByte+1)
	if c.get([]corev1.Secret{huge}) == c.get([]corev1.Secret{huge}) {
		t.Error("a keyring heavier than the whole cache was kept")
	}
	ordinary := []corev1.Secret{versioned("a", "a.example.com", "uid-a", "1")}
	if c.get(ordinary) != c.get(ordinary) {
		t.Error("an ordinary keyring is not shared")
	}
}
