package reverify

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/registry"
)

// Event reasons on the workload.
const (
	ReasonWillNotPull = "ImageWillNotPull"
	ReasonPullable    = "ImagePullable"
)

// Event is one Event to record on a workload.
type Event struct {
	Type, Reason, Message string
}

// maxEventMessage keeps an Event's message (runes) under the API server's 1 KiB note limit.
const maxEventMessage = 250

// eventsFor returns the Events a new report calls for, given the workload's previous report
// (nil: none yet): a Warning naming the fields that turned fail, a Normal naming those that are
// no longer fail. A report that changed nothing about fail calls for none, so a scan that finds
// what the last one found is silent; a warn (unverifiable) never raises or clears one.
func eventsFor(prev, next *openreports.Report) []Event {
	was := failing(prev)
	now := failing(next)
	var turned, recovered []string
	for _, rule := range slices.Sorted(maps.Keys(now)) {
		if _, ok := was[rule]; !ok {
			turned = append(turned, fmt.Sprintf("%s: %s", rule, now[rule]))
		}
	}
	for _, rule := range slices.Sorted(maps.Keys(was)) {
		if _, still := now[rule]; still {
			continue
		}
		if r, ok := resultByRule(next, rule); ok && r.Result == resultWarn {
			// Unverifiable now: nothing is known to have recovered.
			continue
		}
		recovered = append(recovered, rule)
	}
	var out []Event
	if len(turned) > 0 {
		out = append(out, Event{Type: corev1.EventTypeWarning, Reason: ReasonWillNotPull, Message: registry.Truncate(strings.Join(turned, "; "), maxEventMessage)})
	}
	if len(recovered) > 0 {
		out = append(out, Event{Type: corev1.EventTypeNormal, Reason: ReasonPullable, Message: registry.Truncate("pullable again: "+strings.Join(recovered, ", "), maxEventMessage)})
	}
	return out
}

// failing maps each failing rule (field path) of r to its message.
func failing(r *openreports.Report) map[string]string {
	out := map[string]string{}
	if r == nil {
		return out
	}
	for _, res := range r.Results {
		if res.Result == resultFail {
			out[res.Rule] = res.Description
		}
	}
	return out
}

func resultByRule(r *openreports.Report, rule string) (openreports.ReportResult, bool) {
	for _, res := range r.Results {
		if res.Rule == rule {
			return res, true
		}
	}
	return openreports.ReportResult{}, false
}
