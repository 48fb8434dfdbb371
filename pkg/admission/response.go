package admission

import (
	"fmt"
	"slices"
	"unicode/utf8"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/pkg/registry"
)

// Output limits. The API server keeps at most 4096 runes of warnings per request and cuts each
// to 256 runes once over, and audit annotations land in every audit event: both stay small.
const (
	maxWarnings         = 20
	maxWarningRunes     = registry.MaxWarningRunes
	maxCauseRunes       = 1024
	maxImageAnnotations = 16
	maxAnnotationRunes  = 512
)

// respond turns an outcome into the answer for the mode. reason labels the decision when no
// finding gives one (why nothing was checked, or "ok").
//
//	enforce: NotPullable (and Unverifiable with DenyUnverifiable) → 422 Invalid, one cause per
//	         image; other findings and notes → warnings
//	warn:    allow; findings and notes → warnings
//	audit:   allow; findings → audit annotations only
//
// In every mode but off, findings are also audit annotations.
func (h *Handler) respond(mode Mode, w *workload, out outcome, reason string) (admission.Response, decided) {
	var causes field.ErrorList
	var warnings []string
	var causeReason string
	for _, f := range out.findings {
		deny := mode == ModeEnforce && (f.outcome == registry.NotPullable || (f.outcome == registry.Unverifiable && h.cfg.DenyUnverifiable))
		switch {
		case deny:
			causes = append(causes, field.Invalid(field.NewPath(f.path), f.image, registry.Truncate(registry.OneLine(attribution+f.message), maxCauseRunes)))
			if causeReason == "" {
				causeReason = f.reason
			}
		case mode != ModeAudit:
			warnings = append(warnings, f.warning())
		}
	}
	if mode != ModeAudit {
		warnings = append(warnings, out.notes...)
	}
	warnings = slices.Concat(out.configWarnings, warnings)

	var (
		resp admission.Response
		d    decided
	)
	switch {
	case len(causes) > 0:
		status := apierrors.NewInvalid(w.gk, w.name(), causes).Status()
		resp = admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &status}}
		d = decided{decisionDeny, causeReason}
	case mode == ModeAudit && len(out.findings) > 0:
		resp = admission.Allowed("")
		d = decided{decisionAudit, out.findings[0].reason}
	case len(warnings) > 0:
		resp = admission.Allowed("")
		d = decided{decisionWarn, reasonNotes}
		if len(out.findings) > 0 {
			d.reason = out.findings[0].reason
		} else if reason != reasonOK {
			d.reason = reason
		}
	default:
		resp = admission.Allowed("")
		d = decided{decisionAllow, reason}
	}
	resp.Warnings = boundWarnings(warnings)
	resp.AuditAnnotations = auditAnnotations(mode, d.decision, out.findings)
	return resp, d
}

// decided is the decision label and reason of one admission's answer.
type decided struct{ decision, reason string }

// attribution opens every finding shown to a user: kubectl prints a denial as "The Deployment
// "web" is invalid: <causes>", without the webhook's name, and several webhooks may warn.
const attribution = "pullguard: "

// warning is the finding as one warning line: field path, cause and fix, or only the cause when
// both do not fit (a fix cut in the middle helps nobody).
func (f finding) warning() string {
	w := attributed(f.path, f.message)
	if utf8.RuneCountInString(w) > maxWarningRunes && f.detail != "" {
		w = attributed(f.path, f.detail)
	}
	return w
}

// attributed is the form of every warning: the field path it is about, when there is one, then
// the attribution, then the text.
func attributed(path, text string) string {
	if path == "" {
		return attribution + text
	}
	return path + ": " + attribution + text
}

// boundWarnings makes each warning one short line (the API server drops a warning containing a
// control character), whole clauses dropped rather than a word cut, and keeps their number small.
func boundWarnings(in []string) []string {
	var out []string
	for i, w := range in {
		if i == maxWarnings-1 && len(in) > maxWarnings {
			out = append(out, fmt.Sprintf("... and %d more findings; see the webhook logs and the audit annotations", len(in)-i))
			break
		}
		out = append(out, registry.Fit(registry.OneLine(w), maxWarningRunes))
	}
	return out
}

// auditAnnotations writes the findings for the audit log. The API server prefixes each key
// with the webhook's name (images.pullguard.io/image-0), so keys stay short and fixed.
func auditAnnotations(mode Mode, decision string, findings []finding) map[string]string {
	if len(findings) == 0 {
		return nil
	}
	notPullable := 0
	for _, f := range findings {
		if f.outcome == registry.NotPullable {
			notPullable++
		}
	}
	a := map[string]string{
		"mode":     string(mode),
		"decision": decision,
		"findings": fmt.Sprintf("%d not pullable, %d unverifiable", notPullable, len(findings)-notPullable),
	}
	for i, f := range findings {
		if i == maxImageAnnotations {
			a["truncated"] = fmt.Sprintf("%d more findings not annotated", len(findings)-i)
			break
		}
		a[fmt.Sprintf("image-%d", i)] = registry.Truncate(registry.OneLine(fmt.Sprintf("%s %s: %s/%s: %s", f.path, f.image, f.outcome, f.reason, f.message)), maxAnnotationRunes)
	}
	return a
}
