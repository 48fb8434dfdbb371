package bench

import (
	"crypto/sha256"
	"os"
	"testing"
)

// TestSampleCPU reads this process's CPU time both ways (/proc standing in for the registry's)
// around some work: each must grow. The machine's counter, shared with whatever else runs, is
// not compared.
func TestSampleCPU(t *testing.T) {
	before, err := sampleCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(nil)
	for range 600_000 { // ~50 ms: several of /proc's 10 ms ticks
		sum = sha256.Sum256(sum[:])
	}
	after, err := sampleCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var u CPUUse
	u.add(before, after)
	if u.Self <= 0 || u.Registry <= 0 || u.Wall <= 0 {
		t.Fatalf("no CPU time measured: %s", u)
	}
	t.Logf("%s", u)
}
