// Package resilience runs pullguard through a real API server under registry faults, registry
// load and a mixed admission load, with the measurements of package bench at a scale that fits
// `make test` (`make bench` runs them at full scale).
package resilience

import (
	"context"
	"os"
	"testing"

	"github.com/pullguard/pullguard/internal/bench"
	"github.com/pullguard/pullguard/internal/testbed/bedtest"
)

var cluster *bench.Cluster

func TestMain(m *testing.M) {
	// The webhook runs in this process; the DNS-failure case needs names that fail without
	// asking the machine's resolver.
	bench.InstallHermeticDNS()
	os.Exit(bedtest.Main(m, "e2e/resilience", func(ctx context.Context) (*bench.Cluster, error) {
		return bench.StartCluster(ctx, os.Stderr)
	}, &cluster))
}
