// Package resilience runs pullguard through a real API server under registry faults, registry
// load and a mixed admission load, with the measurements of package bench at a scale that fits
// `make test` (`make bench` runs them at full scale).
package resilience

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pullguard/pullguard/bench"
)

var cluster *bench.Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The webhook runs in this process; the DNS-failure case needs names that fail without
	// asking the machine's resolver.
	bench.InstallHermeticDNS()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	c, err := bench.StartCluster(ctx, os.Stderr)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "resilience: starting the test bed: %v\n", err)
		return 1
	}
	cluster = c
	code := m.Run()
	if err := cluster.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "resilience: stopping the test bed: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
