package registry

import (
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/testregistry"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// TestLateChallenge: a registry whose /v2/ answers 200 to anyone but whose repositories want a
// bearer token. containerd never pings and answers the manifest request's challenge, so the
// nodes pull; the probe must do the same rather than refuse with the 401 its ping-less
// transport met.
func TestLateChallenge(t *testing.T) {
	tests := map[string]struct {
		image   string
		keyring *keyring.Keyring
		outcome Outcome
		class   Class
		// tokens is how many token requests the check makes.
		tokens int64
	}{
		"private repository, the right credential": {
			image: "reg.example.com/team/app:v1", keyring: keyringOf(aliceSecret()),
			outcome: Pullable, class: ClassOK, tokens: 1,
		},
		"private repository, anonymous": {
			// The anonymous token grants nothing; go-containerregistry refreshes it once on the
			// 401, as on any bearer registry.
			image:   "reg.example.com/team/app:v1",
			outcome: NotPullable, class: ClassUnauthorized, tokens: 2,
		},
		"private repository, a wrong password": {
			image:   "reg.example.com/team/app:v1",
			keyring: keyringOf(dockerSecret("regcred", map[string]entry{"reg.example.com": {user: "alice", password: "wrong"}})),
			outcome: NotPullable, class: ClassCredentialsRejected, tokens: 1,
		},
		"public repository, anonymous": {
			image:   "reg.example.com/library/nginx:1",
			outcome: Pullable, class: ClassOK, tokens: 1,
		},
		"missing tag, the right credential": {
			image: "reg.example.com/team/app:v9", keyring: keyringOf(aliceSecret()),
			outcome: NotPullable, class: ClassTagNotFound, tokens: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			reg := e.registry(testregistry.Config{
				Auth: testregistry.AuthBearer, OpenPing: true,
				Users: map[string]string{"alice": "right"}, Public: []string{"library/nginx"},
			}, "reg.example.com")
			push(t, reg, "team/app:v1")
			push(t, reg, "library/nginx:1")
			c := e.checker(e.options())

			v := c.Check(ctxTimeout(t, 10*time.Second), Request{Image: tc.image, Keyring: tc.keyring})
			assertVerdict(t, v, tc.outcome, tc.class, nil, nil)
			if got := reg.Count(testregistry.KindToken); got != tc.tokens {
				t.Errorf("token requests = %d, want %d (%v)", got, tc.tokens, reg.Counts())
			}
		})
	}
}

// TestLateChallengeReused: the puller that answered the challenge is pooled, so the next
// check of the repository costs one request, as after an ordinary handshake.
func TestLateChallengeReused(t *testing.T) {
	e := newEnv(t)
	reg := e.registry(testregistry.Config{Auth: testregistry.AuthBearer, OpenPing: true, Users: map[string]string{"alice": "right"}}, "reg.example.com")
	push(t, reg, "team/app:v1")
	push(t, reg, "team/app:v2")
	c := e.checker(e.options())
	kr := keyringOf(aliceSecret())

	assertVerdict(t, c.Check(ctxTimeout(t, 10*time.Second), Request{Image: "reg.example.com/team/app:v1", Keyring: kr}), Pullable, ClassOK, nil, nil)
	reg.ResetCounts()
	assertVerdict(t, c.Check(ctxTimeout(t, 10*time.Second), Request{Image: "reg.example.com/team/app:v2", Keyring: kr}), Pullable, ClassOK, nil, nil)
	if got := reg.Counts(); got[testregistry.KindManifestHead] != 1 || got[testregistry.KindToken] != 0 || got[testregistry.KindPing] != 0 {
		t.Errorf("registry requests = %v, want one manifest HEAD", got)
	}
}
