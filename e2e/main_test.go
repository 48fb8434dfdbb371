package e2e

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/internal/testbed/bedtest"
)

var (
	bed *testbed.Bed
	// pullguardBinary is cmd/pullguard built for this run (see start): `pullguard check` is
	// run as a process, as CI runs it.
	pullguardBinary string
)

func TestMain(m *testing.M) {
	os.Exit(bedtest.Main(m, "e2e", start, &bed))
}

// start is the default bed plus the CLI binary, built into the bed's directory; a failed build
// fails the package, as a missing bed binary does.
func start(ctx context.Context) (*testbed.Bed, error) {
	b, err := bedtest.Start(ctx)
	if err != nil {
		return nil, err
	}
	if pullguardBinary, err = b.BuildCLI(ctx); err != nil {
		return nil, errors.Join(err, b.Stop())
	}
	return b, nil
}
