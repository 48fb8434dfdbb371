package bench

import (
	"crypto/sha256"
	"os"
	"testing"
)

// TestSampleCPU reads this process's CPU time (standing in for the registry's) around some
// work: it must grow. The machine's counter ticks every 10 ms, too coarse to compare here.
func TestSampleCPU(t *testing.T) {
	before, err := sampleCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(nil)
	for range 200_000 {
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
