package cloud

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/pullguard/pullguard/internal/testcloud"
)

func TestECRScope(t *testing.T) {
	tests := map[string]struct {
		host, scope string
		ok          bool
	}{
		"commercial":         {host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", scope: "us-east-1/123456789012", ok: true},
		"China":              {host: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", scope: "cn-north-1/123456789012", ok: true},
		"FIPS":               {host: "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", scope: "us-gov-west-1/123456789012/fips", ok: true},
		"dual-stack dkr-ecr": {host: "123456789012.dkr-ecr.us-east-1.amazonaws.com", scope: "us-east-1/123456789012", ok: true},
		"look-alike suffix":  {host: "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil"},
		"look-alike prefix":  {host: "x.dkr.ecr.us-east-1.amazonaws.com"},
		"deeper sub-host":    {host: "a.123456789012.dkr.ecr.us-east-1.amazonaws.com"},
		"ECR public":         {host: "public.ecr.aws"},
		"short account":      {host: "12345.dkr.ecr.us-east-1.amazonaws.com"},
	}
	e := NewECR(nil, nil, nil)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			scope, ok := e.Scope(tc.host)
			if ok != tc.ok || scope != tc.scope {
				t.Errorf("Scope(%q) = %q, %v; want %q, %v", tc.host, scope, ok, tc.scope, tc.ok)
			}
		})
	}
}

// TestSourcesMatchCanonical: spellings of one host match alike, and a port never matches.
func TestSourcesMatchCanonical(t *testing.T) {
	s := NewSources(nil, NewECR(nil, nil, nil))
	for registry, want := range map[string]bool{
		"123456789012.DKR.ECR.us-east-1.amazonaws.com":      true,
		"123456789012.dkr.ecr.us-east-1.amazonaws.com.":     true,
		"123456789012.dkr.ecr.us-east-1.amazonaws.com:443":  false,
		"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil": false,
	} {
		if p, _ := s.Match(registry); (p != nil) != want {
			t.Errorf("Match(%q) = %v, want %v", registry, p != nil, want)
		}
	}
}

func TestECRRegionsAllowed(t *testing.T) {
	e := NewECR([]string{"eu-west-1"}, nil, nil)
	if _, ok := e.Scope("123456789012.dkr.ecr.us-east-1.amazonaws.com"); ok {
		t.Error("a region outside the allowed ones matched")
	}
	if _, ok := e.Scope("123456789012.dkr.ecr.eu-west-1.amazonaws.com"); !ok {
		t.Error("an allowed region did not match")
	}
}

const ecrRegistry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

// TestECRFetchWebIdentity: the real SDK's default chain takes the web identity token file,
// asks the loopback STS, signs GetAuthorizationToken with those keys, and ecr-login decodes
// the token; a burst makes one exchange; the cache serves until shortly before expiry.
func TestECRFetchWebIdentity(t *testing.T) {
	f := testcloud.NewAWS(t, "ecr-password")
	var refused atomic.Int32
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	s := NewSources(clock, NewECR(nil, testcloud.LoopbackClient(&refused), clock))

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			c, _, ok, err := s.Lookup(context.Background(), ecrRegistry)
			switch {
			case err != nil:
				errs <- err
			case !ok || c.Username != "AWS" || c.Password != "ecr-password":
				errs <- errors.New("wrong credential")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := f.ECRCalls.Load(); n != 1 {
		t.Errorf("a burst of 20 made %d GetAuthorizationToken calls, want 1", n)
	}
	now.Add(int64(ecrTokenLifetime - refreshMargin - time.Minute))
	if _, _, _, err := s.Lookup(context.Background(), ecrRegistry); err != nil || f.ECRCalls.Load() != 1 {
		t.Errorf("before the refresh margin: err %v, %d calls, want the cached token", err, f.ECRCalls.Load())
	}
	now.Add(int64(2 * time.Minute))
	if _, _, _, err := s.Lookup(context.Background(), ecrRegistry); err != nil || f.ECRCalls.Load() != 2 {
		t.Errorf("inside the refresh margin: err %v, %d calls, want a new exchange", err, f.ECRCalls.Load())
	}
	if refused.Load() != 0 {
		t.Errorf("the SDK tried %d non-loopback dials", refused.Load())
	}
}

// TestECRIdentityRefused: ECR refusing the webhook's role is an IdentityError, and nothing is
// cached.
func TestECRIdentityRefused(t *testing.T) {
	f := testcloud.NewAWS(t, "ecr-password")
	f.ECRStatus.Store(400)
	var refused atomic.Int32
	s := NewSources(nil, NewECR(nil, testcloud.LoopbackClient(&refused), nil))
	_, p, ok, err := s.Lookup(context.Background(), ecrRegistry)
	var ie *IdentityError
	if !ok || p == nil || !errors.As(err, &ie) || ie.Provider != "ECR" {
		t.Fatalf("Lookup = %v, %v, %v; want an ECR IdentityError", p, ok, err)
	}
	f.ECRStatus.Store(0)
	if _, _, _, err := s.Lookup(context.Background(), ecrRegistry); err != nil {
		t.Errorf("after ECR recovered: %v", err)
	}
}

// TestECRUnreachable: a cloud API that does not answer is an IdentityError within the
// exchange timeout.
func TestECRUnreachable(t *testing.T) {
	f := testcloud.NewAWS(t, "ecr-password")
	f.Server.Close()
	var refused atomic.Int32
	s := NewSources(nil, NewECR(nil, testcloud.LoopbackClient(&refused), nil))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, _, _, err := s.Lookup(ctx, ecrRegistry)
	var ie *IdentityError
	if !errors.As(err, &ie) {
		t.Fatalf("Lookup = %v, want an IdentityError", err)
	}
	if refused.Load() != 0 {
		t.Errorf("the SDK tried %d non-loopback dials", refused.Load())
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := map[string]struct {
		opts Options
		want int
	}{
		"off":            {},
		"on":             {opts: Options{ECR: ECROptions{Enabled: true, Regions: []string{"us-east-1", "us-gov-west-1"}}}},
		"bad region":     {opts: Options{ECR: ECROptions{Enabled: true, Regions: []string{"US East"}}}, want: 1},
		"regions unused": {opts: Options{ECR: ECROptions{Regions: []string{"us-east-1"}}}, want: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if errs := tc.opts.Validate(field.NewPath("registry", "cloud")); len(errs) != tc.want {
				t.Errorf("Validate = %v, want %d errors", errs, tc.want)
			}
		})
	}
}
