package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/testbed"
)

var bed *testbed.Bed

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	b, err := testbed.Start(ctx, testbed.Options{Progress: os.Stderr})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: starting the test bed: %v\n", err)
		return 1
	}
	bed = b
	code := m.Run()
	if err := bed.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: stopping the test bed: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
