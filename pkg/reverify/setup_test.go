package reverify

import (
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// TestSetupWithManagerAddsLeaderOnlyRunnables builds a manager that is never started (its API
// server address refuses connections on loopback): what SetupWithManager adds must build
// without a cluster, and all of it waits for the leader.
func TestSetupWithManagerAddsLeaderOnlyRunnables(t *testing.T) {
	e := newScanEnv(t, nil)
	mgr, err := manager.New(&rest.Config{Host: "http://127.0.0.1:1"}, manager.Options{
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingManager{Manager: mgr}
	if err := e.s.SetupWithManager(rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.added) != 2 {
		t.Fatalf("%d runnables added, want the periodic scan and the trigger controller", len(rec.added))
	}
	for _, r := range rec.added {
		if le, ok := r.(manager.LeaderElectionRunnable); !ok || !le.NeedLeaderElection() {
			t.Errorf("%T runs without the lease", r)
		}
	}
}

type recordingManager struct {
	manager.Manager
	added []manager.Runnable
}

func (m *recordingManager) Add(r manager.Runnable) error {
	m.added = append(m.added, r)
	return m.Manager.Add(r)
}
