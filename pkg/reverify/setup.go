package reverify

import (
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// SetupWithManager adds the scanner's runnables to mgr: the periodic scan (on the leader only).
// The command calls it once; whatever else makes the scanner run (triggers) is added here too.
func (s *Scanner) SetupWithManager(mgr manager.Manager) error {
	return mgr.Add(Periodic{Scanner: s})
}
