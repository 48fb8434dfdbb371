package bench

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/internal/testregistry"
)

// FaultCase is one registry fault and what the webhook must answer under it.
type FaultCase struct {
	Name  string
	Fault Fault
	// UnresolvableHost puts the image on a host name no resolver knows (the DNS failure case)
	// instead of on a fault front.
	UnresolvableHost bool
	// Pullable: the fault is one the check absorbs; the image is verified.
	Pullable bool
	// Either: the fault sits at the edge of a timeout, so the check may end either way (verified,
	// or not verified with Words).
	Either bool
	// Words must appear in the webhook's message when the image is not verified.
	Words []string
}

// unresolvableHost is a registry host name the hermetic resolver answers with NXDOMAIN.
const unresolvableHost = "registry.pullguard-bench.test"

// FaultCases are the registry faults of the fault-injection suite.
func FaultCases() []FaultCase {
	unavailable := []string{"unavailable", "pull may fail"}
	timeout := []string{"did not answer in time"}
	return []FaultCase{
		{Name: "latency 0", Pullable: true},
		{Name: "latency 100ms", Fault: Fault{Registry: testregistry.Fault{Delay: 100 * time.Millisecond}}, Pullable: true},
		// The webhook's default response-header timeout is 2 s: a registry that takes 2 s is at the edge.
		{Name: "latency 2s", Fault: Fault{Registry: testregistry.Fault{Delay: 2 * time.Second}}, Either: true, Words: timeout},
		{Name: "latency forever", Fault: Fault{Registry: testregistry.Fault{Hang: true}}, Words: timeout},
		{Name: "429 with Retry-After", Fault: Fault{Registry: testregistry.Fault{Status: http.StatusTooManyRequests, RetryAfter: "120"}}, Words: []string{"rate limit", "429", "Retry-After 120"}},
		{Name: "429 without Retry-After", Fault: Fault{Registry: testregistry.Fault{Status: http.StatusTooManyRequests}}, Words: []string{"rate limit", "429"}},
		{Name: "503", Fault: Fault{Registry: testregistry.Fault{Status: http.StatusServiceUnavailable}}, Words: append([]string{"503"}, unavailable...)},
		{Name: "connection reset", Fault: Fault{Registry: testregistry.Fault{Reset: true}}, Words: unavailable},
		{Name: "TLS handshake failure", Fault: Fault{UntrustedCertificate: true}, Words: []string{"TLS verification failed"}},
		{Name: "DNS failure", UnresolvableHost: true, Words: []string{"could not be resolved", unresolvableHost}},
		{Name: "token endpoint down", Fault: Fault{Token: &TokenFault{Down: true}}, Words: unavailable},
		{Name: "token endpoint slow (500ms)", Fault: Fault{Token: &TokenFault{Delay: 500 * time.Millisecond}}, Pullable: true},
		{Name: "token endpoint hangs", Fault: Fault{Token: &TokenFault{Hang: true}}, Words: timeout},
	}
}

// FaultOutcome is what one admission under a fault got.
type FaultOutcome struct {
	Case  FaultCase
	Image string
	Admission
	// Verified: admitted without a finding (the image was verified despite the fault).
	Verified bool
}

// RunFault admits, in namespace ns, a pod whose image is served by a fault front with the
// case's fault (or on an unresolvable host), as the first admission of that image.
func (c *Cluster) RunFault(ctx context.Context, fc FaultCase, ns string) (FaultOutcome, error) {
	out := FaultOutcome{Case: fc, Image: unresolvableHost + "/" + testbed.RepoWeb + ":1.0"}
	if !fc.UnresolvableHost {
		f, err := c.StartFaultFront(fc.Fault)
		if err != nil {
			return out, err
		}
		defer f.Close()
		out.Image = f.Ref(testbed.RepoWeb + ":1.0")
	}
	out.Admission = c.CreatePod(ctx, ns, out.Image)
	out.Verified = out.Err == nil && len(out.Warnings) == 0
	return out, nil
}

// Check reports what is wrong with the outcome for the webhook's default decisions (allow an
// image that cannot be verified, with a warning saying why) or, with denyUnverifiable, for
// --deny-unverifiable (refuse it, saying why). budget bounds the client-side latency.
func (o FaultOutcome) Check(denyUnverifiable bool, budget time.Duration) error {
	if o.Took > budget {
		return fmt.Errorf("answered after %s, beyond the %s budget", o.Took.Round(time.Millisecond), budget)
	}
	if o.Verified {
		if o.Case.Pullable || o.Case.Either {
			return nil
		}
		return fmt.Errorf("admitted without a warning; want the image reported as not verified")
	}
	if o.Case.Pullable {
		return fmt.Errorf("not verified (err %v, warnings %q); want it verified despite the fault", o.Err, o.Warnings)
	}
	msg := joinWarnings(o.Warnings)
	switch {
	case denyUnverifiable && o.Err == nil:
		return fmt.Errorf("admitted with warnings %q; want it refused (--deny-unverifiable)", o.Warnings)
	case denyUnverifiable:
		msg = o.Err.Error()
		if !strings.Contains(msg, `admission webhook "`+testbed.WebhookName+`"`) {
			return fmt.Errorf("refused by something else than the webhook: %w", o.Err)
		}
	case o.Err != nil:
		return fmt.Errorf("refused (%w); want it admitted with a warning", o.Err)
	}
	for _, w := range o.Case.Words {
		if !strings.Contains(msg, w) {
			return fmt.Errorf("message %q lacks %q", msg, w)
		}
	}
	return nil
}
