package app

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// scopedRegisterer registers into a shared registry (controller-runtime's, which its metrics
// server serves) and remembers what it registered, so that a Run removes its collectors when it
// ends and a later Run in the same process (tests, `make demo`) can register fresh ones instead
// of hitting AlreadyRegisteredError.
type scopedRegisterer struct {
	shared prometheus.Registerer

	mu         sync.Mutex
	registered []prometheus.Collector
}

var _ prometheus.Registerer = (*scopedRegisterer)(nil)

func newScopedRegisterer(shared prometheus.Registerer) *scopedRegisterer {
	return &scopedRegisterer{shared: shared}
}

func (r *scopedRegisterer) Register(c prometheus.Collector) error {
	if err := r.shared.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.registered = append(r.registered, c)
	return nil
}

func (r *scopedRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister leaves c in r.registered: unregistering it again in unregisterAll is a no-op, and
// collectors need not be comparable.
func (r *scopedRegisterer) Unregister(c prometheus.Collector) bool {
	return r.shared.Unregister(c)
}

// unregisterAll removes every collector registered through r.
func (r *scopedRegisterer) unregisterAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.registered {
		r.shared.Unregister(c)
	}
	r.registered = nil
}
