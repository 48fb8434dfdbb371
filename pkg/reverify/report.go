package reverify

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/registry"
)

// Report metadata.
const (
	// Source is the report's and each result's source; Policy each result's policy.
	Source = "pullguard"
	Policy = "pullguard"
	// ManagedByLabel marks the reports pullguard writes (and the only ones it updates).
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "pullguard"
	// Properties of each result.
	propImage     = "image"
	propReason    = "reason"
	propFix       = "fix"
	propDigest    = "digest"
	resultPass    = openreports.Result("pass")
	resultWarn    = openreports.Result("warn")
	resultFail    = openreports.Result("fail")
	reportPrefix  = "pullguard-"
	hashSuffixLen = 10
)

// ReportName is the name of the Report of a workload: pullguard-<lowercase kind>-<name>, or
// when that is longer than an object name may be, cut and suffixed with a hash of the whole.
func ReportName(kind, name string) string {
	n := reportPrefix + strings.ToLower(kind) + "-" + name
	if len(n) <= validation.DNS1123SubdomainMaxLength {
		return n
	}
	sum := sha256.Sum256([]byte(n))
	cut := strings.TrimRight(n[:validation.DNS1123SubdomainMaxLength-hashSuffixLen-1], "-.")
	return cut + "-" + hex.EncodeToString(sum[:])[:hashSuffixLen]
}

// resultOf is the report's word for an outcome: unverifiable is a warning, never a failure.
func resultOf(o registry.Outcome) openreports.Result {
	switch o {
	case registry.Pullable:
		return resultPass
	case registry.NotPullable:
		return resultFail
	}
	return resultWarn
}

// BuildReport is the Report of obj (of kind gvk) for ev: one result per checked image field,
// rule = field path, message and fix as the webhook words them, summary counts, owned by obj so
// that it is garbage-collected with it. Notes go on the result of the field they name, as a
// warning on a pass (a platform only some nodes run).
func BuildReport(gvk schema.GroupVersionKind, obj client.Object, ev admission.Evaluation) *openreports.Report {
	r := &openreports.Report{
		TypeMeta: metav1.TypeMeta{APIVersion: openreports.SchemeGroupVersion.String(), Kind: "Report"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      ReportName(gvk.Kind, obj.GetName()),
			Namespace: obj.GetNamespace(),
			Labels:    map[string]string{ManagedByLabel: ManagedBy},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
				Name: obj.GetName(), UID: obj.GetUID()}},
		},
		Source: Source,
		Scope: &corev1.ObjectReference{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
			Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()},
	}
	for _, res := range ev.Results {
		rr := openreports.ReportResult{Source: Source, Policy: Policy, Rule: res.Path, Result: resultOf(res.Outcome),
			Description: res.Message, Properties: map[string]string{propImage: res.Image, propReason: res.Reason}}
		if res.Fix != "" {
			rr.Properties[propFix] = res.Fix
		}
		if res.Verdict.Digest != "" {
			rr.Properties[propDigest] = res.Verdict.Digest
		}
		for _, n := range ev.Notes {
			if !strings.HasPrefix(n, res.Path+": ") {
				continue
			}
			if rr.Result == resultPass {
				rr.Result = resultWarn
			}
			if rr.Description != "" {
				rr.Description += "; "
			}
			rr.Description += n
		}
		switch rr.Result {
		case resultPass:
			r.Summary.Pass++
		case resultWarn:
			r.Summary.Warn++
		case resultFail:
			r.Summary.Fail++
		}
		r.Results = append(r.Results, rr)
	}
	return r
}

// worst is the workload's result for the metrics: fail, else warn, else pass.
func worst(r *openreports.Report) openreports.Result {
	switch {
	case r.Summary.Fail > 0:
		return resultFail
	case r.Summary.Warn > 0:
		return resultWarn
	}
	return resultPass
}
