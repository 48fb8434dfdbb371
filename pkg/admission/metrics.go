package admission

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/internal/promregister"
	"github.com/pullguard/pullguard/pkg/registry"
)

// Decisions (the decision label): a closed set.
const (
	decisionAllow = "allow" // allowed, nothing to report
	decisionWarn  = "warn"  // allowed with warnings
	decisionAudit = "audit" // allowed; findings only in audit annotations (audit mode)
	decisionDeny  = "deny"
	decisionError = "error" // bad request or recovered panic
)

// Reasons the admission layer adds to the registry Classes (the reason label): a closed set.
const (
	reasonOK                    = "ok"
	reasonOff                   = "off"
	reasonExempt                = "exempt"
	reasonUnchanged             = "unchanged"
	reasonMirrorPod             = "mirror_pod"
	reasonIgnored               = "ignored" // DELETE, CONNECT, subresources other than ephemeralcontainers
	reasonUnknownKind           = "unknown_kind"
	reasonBadRequest            = "bad_request"
	reasonPanic                 = "panic"
	reasonNotes                 = "notes" // warnings that are not image findings (missing secret, pull policy Never...)
	reasonCredentialsUnreadable = "credentials_unreadable"
	reasonTooManyImages         = "too_many_images" // more than Limits.MaxImagesPerObject
	reasonOther                 = "other"           // a Class the engine should not have returned
)

// modeUnknown labels requests answered before their mode was known.
const modeUnknown = "unknown"

var knownClasses = func() map[registry.Class]bool {
	m := map[registry.Class]bool{}
	for _, c := range registry.Classes {
		m[c] = true
	}
	return m
}()

// classReason bounds a Class coming from the engine to the known set: label values must never
// be built from input.
func classReason(c registry.Class) string {
	if knownClasses[c] {
		return string(c)
	}
	return reasonOther
}

// Metrics are the admission metrics. Labels are closed sets: never an image, a namespace or a
// registry host, which are user-controlled.
type Metrics struct {
	decisions *prometheus.CounterVec
	findings  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them on reg (nil: not registered). Registering
// twice on the same registry reuses the collectors already there.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pullguard_admission_decisions_total",
			Help: "Admission requests answered, by mode, decision (allow, warn, audit, deny, error) and reason (registry class of the first finding, or why nothing was checked).",
		}, []string{"mode", "decision", "reason"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pullguard_admission_findings_total",
			Help: "Images checked at admission, by mode, outcome (pullable, not_pullable, unverifiable) and reason (registry class).",
		}, []string{"mode", "outcome", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pullguard_admission_duration_seconds",
			Help:    "Time to answer an admission request, by kind.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"kind"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.decisions, err = promregister.Register(reg, m.decisions)
	if err != nil {
		return nil, err
	}
	m.findings, err = promregister.Register(reg, m.findings)
	if err != nil {
		return nil, err
	}
	m.duration, err = promregister.Register(reg, m.duration)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// record is what one admission contributes to the metrics and the decision log line.
type record struct {
	mode     string
	kind     string
	decision string
	reason   string
	images   []string
}

// set records what respond decided and passes its answer on.
func (r *record) set(resp admission.Response, d decided) admission.Response {
	r.decision, r.reason = d.decision, d.reason
	return resp
}

func (m *Metrics) observe(r *record, elapsed time.Duration) {
	m.decisions.WithLabelValues(r.mode, r.decision, r.reason).Inc()
	m.duration.WithLabelValues(r.kind).Observe(elapsed.Seconds())
}

func (m *Metrics) finding(mode Mode, outcome registry.Outcome, reason string) {
	m.findings.WithLabelValues(string(mode), outcome.String(), reason).Inc()
}
