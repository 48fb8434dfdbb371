package registry

import (
	"os"
	"testing"

	"github.com/pullguard/pullguard/internal/testcloud"
)

func TestMain(m *testing.M) {
	testcloud.GuardMetadata()
	os.Exit(m.Run())
}
