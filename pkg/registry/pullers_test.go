package registry

import (
	"context"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/testregistry"
)

// TestTokenReuse proves that the ping and the bearer token are paid once per credential and
// repository, and that a reused puller is not bound to the context of the call that created it.
func TestTokenReuse(t *testing.T) {
	e := newEnv(t)
	reg := tokenRegistry(t, e, "v1", "v2", "v3", "v4", "v5", "v6")
	c := e.checker(e.options())
	kr := keyringOf(aliceSecret())

	first, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	v := c.Check(first, Request{Image: "reg.example.com/team/app:v1", Keyring: kr})
	cancel() // the context that ran the handshake is gone from here on
	assertVerdict(t, v, Pullable, ClassOK, nil, nil)
	for _, tag := range []string{"v2", "v3", "v4", "v5"} {
		v := c.Check(ctxTimeout(t, 5*time.Second), Request{Image: "reg.example.com/team/app:" + tag, Keyring: kr})
		assertVerdict(t, v, Pullable, ClassOK, nil, nil)
	}
	if got := reg.Counts(); got[testregistry.KindToken] != 1 || got[testregistry.KindPing] != 1 || got[testregistry.KindManifestHead] != 5 {
		t.Errorf("registry requests = %v, want 1 token, 1 ping, 5 manifest HEADs", got)
	}

	// Each call's own deadline still bounds its requests on the reused puller.
	reg.SetFault(testregistry.Fault{Hang: true})
	start := time.Now()
	v = c.Check(ctxTimeout(t, 200*time.Millisecond), Request{Image: "reg.example.com/team/app:v6", Keyring: kr})
	assertVerdict(t, v, Unverifiable, ClassTimeout, nil, nil)
	if d := time.Since(start); d > time.Second {
		t.Errorf("check on a hanging registry took %s with a 200ms deadline", d)
	}

	// Another credential for the same repository has a token of its own.
	reg.SetFault(testregistry.Fault{})
	anon := c.Check(ctxTimeout(t, 5*time.Second), Request{Image: "reg.example.com/team/app:v1"})
	assertVerdict(t, anon, NotPullable, ClassUnauthorized, nil, nil)
	if n := reg.Count(testregistry.KindToken); n < 2 {
		t.Errorf("token requests = %d after an anonymous check, want a second token", n)
	}
}

// TestSharedHandshake: two checks of one repository with one credential share the puller's
// handshake, which runs under the context of the first. When that context expires mid-handshake
// the second check, whose own deadline is far away, still gets its answer.
func TestSharedHandshake(t *testing.T) {
	e := newEnv(t)
	reg := tokenRegistry(t, e, "v1", "v2")
	reg.SetFault(testregistry.Fault{Delay: 300 * time.Millisecond, All: true})
	c := e.checker(e.options())
	kr := keyringOf(aliceSecret())

	first := make(chan Verdict, 1)
	go func() {
		first <- c.Check(ctxTimeout(t, 150*time.Millisecond), Request{Image: "reg.example.com/team/app:v1", Keyring: kr})
	}()
	time.Sleep(30 * time.Millisecond)
	second := c.Check(ctxTimeout(t, 10*time.Second), Request{Image: "reg.example.com/team/app:v2", Keyring: kr})
	assertVerdict(t, <-first, Unverifiable, ClassTimeout, nil, nil)
	assertVerdict(t, second, Pullable, ClassOK, nil, nil)
}
