package registry

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/testregistry"
)

// TestSharedToken: the checks of one batch's repositories on one registry with one credential
// make one /v2/ ping and one token request between them; a token service that reads only the
// first scope, or a credential that may not read every repository, costs requests but no
// verdict changes.
func TestSharedToken(t *testing.T) {
	const n = 6
	tests := map[string]struct {
		cfg testregistry.Config
		// wantPings and wantTokens: -1 when not asserted (the fallback's own handshakes).
		wantPings, wantTokens int64
		// denied are the repositories alice may not pull.
		denied map[int]bool
		// maxScopes is Options.MaxSharedScopes (0: the default).
		maxScopes int
	}{
		"honours every scope": {cfg: testregistry.Config{}, wantPings: 1, wantTokens: 1},
		// Two repositories share a token, the other four handshake alone.
		"two scopes per token": {cfg: testregistry.Config{}, maxScopes: 2, wantPings: 5, wantTokens: 5},
		"no sharing":           {cfg: testregistry.Config{}, maxScopes: 1, wantPings: n, wantTokens: n},
		"first scope only":     {cfg: testregistry.Config{FirstScopeOnly: true}, wantPings: -1, wantTokens: -1},
		"some repositories denied": {cfg: testregistry.Config{Grants: map[string][]string{"alice": {"team/app0", "team/app1", "team/app2"}}},
			wantPings: -1, wantTokens: -1, denied: map[int]bool{3: true, 4: true, 5: true}},
		// The shared handshake meets no challenge; each check answers its repository's own.
		"open ping": {cfg: testregistry.Config{OpenPing: true}, wantPings: -1, wantTokens: -1},
		"denied hidden as 404": {cfg: testregistry.Config{Deny: 404, Grants: map[string][]string{"alice": {"team/app0", "team/app2"}}},
			wantPings: -1, wantTokens: -1, denied: map[int]bool{1: true, 3: true, 4: true, 5: true}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			cfg := tc.cfg
			cfg.Auth, cfg.Users = testregistry.AuthBearer, map[string]string{"alice": "right"}
			r := e.registry(cfg, "reg.example.com")
			var images []string
			for i := range n {
				push(t, r, fmt.Sprintf("team/app%d:v1", i))
				images = append(images, fmt.Sprintf("reg.example.com/team/app%d:v1", i))
			}
			r.ResetCounts()
			kr := keyringOf(aliceSecret())
			opts := e.options()
			if tc.maxScopes > 0 {
				opts.MaxSharedScopes = tc.maxScopes
			}
			c := e.checker(opts)
			batch := NewBatch(images, kr)
			ctx := ctxTimeout(t, 10*time.Second)
			verdicts := make([]Verdict, n)
			var wg sync.WaitGroup
			for i, image := range images {
				wg.Go(func() { verdicts[i] = c.Check(ctx, Request{Image: image, Keyring: kr, Batch: batch}) })
			}
			wg.Wait()
			counts := r.Counts()
			// The answers a check without a batch gives, on a fresh checker.
			alone := e.checker(e.options())
			for i, image := range images {
				want := alone.Check(ctx, Request{Image: image, Keyring: kr})
				got := verdicts[i]
				if got.Outcome != want.Outcome || got.Class != want.Class || got.Detail != want.Detail || got.Digest != want.Digest {
					t.Errorf("%s: batch %s/%s %q, alone %s/%s %q", image, got.Outcome, got.Class, got.Detail, want.Outcome, want.Class, want.Detail)
				}
				if wantOutcome := Pullable; tc.denied[i] == (got.Outcome == wantOutcome) {
					t.Errorf("%s: %s/%s %q, denied %v", image, got.Outcome, got.Class, got.Detail, tc.denied[i])
				}
			}
			if tc.wantPings >= 0 {
				if counts[testregistry.KindPing] != tc.wantPings || counts[testregistry.KindToken] != tc.wantTokens {
					t.Errorf("pings %d, token requests %d for %d repositories; want %d and %d (counts %v)",
						counts[testregistry.KindPing], counts[testregistry.KindToken], n, tc.wantPings, tc.wantTokens, counts)
				}
				if h := counts[testregistry.KindManifestHead]; h != n {
					t.Errorf("manifest HEADs %d, want %d", h, n)
				}
			}
		})
	}
}

// TestMaxSharedScopesValidated: a shared token names at least one repository.
func TestMaxSharedScopesValidated(t *testing.T) {
	opts := DefaultOptions()
	opts.MaxSharedScopes = 0
	errs := opts.Validate()
	if len(errs) != 1 || errs[0].Field != "registry.maxSharedScopes" {
		t.Errorf("Validate() = %v, want one error at registry.maxSharedScopes", errs)
	}
}
