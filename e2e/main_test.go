package e2e

import (
	"os"
	"testing"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/internal/testbed/bedtest"
)

var bed *testbed.Bed

func TestMain(m *testing.M) {
	os.Exit(bedtest.Main(m, "e2e", bedtest.Start, &bed))
}
