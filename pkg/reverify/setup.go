package reverify

import (
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// SetupWithManager adds the scanner's runnables to mgr, all on the leader only: the periodic
// scan, and the controller of the event-driven checks (triggers.go: workloads created or
// changed, pull Secrets and ServiceAccounts polled by name, the Nodes' platform set). The
// manager's cache must be built with InformerOptions and admission.InformerOptions. The
// command calls it once.
func (s *Scanner) SetupWithManager(mgr manager.Manager) error {
	if err := mgr.Add(Periodic{Scanner: s}); err != nil {
		return err
	}
	return s.setupTriggers(mgr)
}
