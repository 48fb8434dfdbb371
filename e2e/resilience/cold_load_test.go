package resilience

import (
	"testing"
	"time"
)

// TestColdCheckAndFanOut runs the cold-check and fan-out measurements of the bench table at a
// small scale against the bed's token-auth registry: every check must reach a verdict, and
// the ratios are logged (`make bench` measures them at full size).
func TestColdCheckAndFanOut(t *testing.T) {
	cold, err := cluster.MeasureColdCheck(t.Context(), 6)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: ratio %.2f", cold, cold.Ratio())
	for _, rtt := range []time.Duration{0, 20 * time.Millisecond} {
		f, err := cluster.MeasureFanOut(t.Context(), 10, 2, rtt)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: ratio %.2f", f, f.Ratio())
		// However busy the machine, ten checks in parallel beat ten in series once the
		// registry is a network away.
		if rtt > 0 && f.Pod.P50() >= f.Sum.P50() {
			t.Errorf("a pod with 10 images took %s, as long as admitting them one by one (%s): the checks did not run in parallel", f.Pod.P50(), f.Sum.P50())
		}
	}
}
