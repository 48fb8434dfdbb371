package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// HTTPHandler is what Setup registers at Path: the handler in controller-runtime's admission
// webhook (panics recovered, UID echoed, AdmissionReview v1 and v1beta1), with the request's
// deadline taken from the API server's ?timeout= and the body capped at MaxRequestBytes.
func (h *Handler) HTTPHandler() http.Handler {
	return h.limitBody(&admission.Webhook{Handler: h, RecoverPanic: ptr.To(true), WithContextFunc: h.withBudget})
}

// limitBody answers an oversized AdmissionReview with a clear error before anything decodes it.
// controller-runtime has its own fixed 7 MiB cap; this one makes the limit configurable.
//
// Reading the body is bounded by the admission's budget: the API server sends the whole body at
// once, so a client that trickles it is not the API server and must not hold a connection and a
// goroutine for longer than an admission may last (the server's own timeouts cover headers only).
func (h *Handler) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			// An error means the connection cannot take deadlines (e.g. an httptest recorder);
			// nothing is trickling there.
			_ = rc.SetReadDeadline(time.Now().Add(requestBudget(timeoutParam(r.URL.RawQuery), h.cfg.MaxBudget, h.cfg.TimeoutMargin)))
			body, err := readBody(r.Body, r.ContentLength, h.cfg.MaxRequestBytes)
			_ = r.Body.Close()
			// Lift the deadline again, or it would cut the next request on a kept-alive connection.
			_ = rc.SetReadDeadline(time.Time{})
			switch {
			case err != nil:
				h.badRequest(r.Context(), w, http.StatusBadRequest, fmt.Errorf("reading the AdmissionReview body: %w", err))
				return
			case int64(len(body)) > h.cfg.MaxRequestBytes:
				h.badRequest(r.Context(), w, http.StatusRequestEntityTooLarge,
					fmt.Errorf("AdmissionReview body is larger than the %d-byte limit of the pullguard webhook", h.cfg.MaxRequestBytes))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

// readBody reads at most max+1 bytes of body, into one buffer when the request says its length
// (the API server does), rather than io.ReadAll's growing ones.
func readBody(body io.Reader, contentLength, max int64) ([]byte, error) {
	lr := io.LimitReader(body, max+1)
	if contentLength <= 0 || contentLength > max {
		return io.ReadAll(lr)
	}
	// ReadFrom wants MinRead bytes free before each read, the one that sees EOF included.
	buf := bytes.NewBuffer(make([]byte, 0, contentLength+bytes.MinRead))
	_, err := buf.ReadFrom(lr)
	return buf.Bytes(), err
}

// timeoutParam is the API server's ?timeout= (the first one), read without parsing the whole
// query into a map on every request; "" when there is none or it does not unescape.
func timeoutParam(rawQuery string) string {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if v, ok := strings.CutPrefix(pair, "timeout="); ok {
			v, err := url.QueryUnescape(v)
			if err != nil {
				return ""
			}
			return v
		}
	}
	return ""
}

// badRequest answers like controller-runtime does: HTTP 200 with the real code in the
// AdmissionReview's status. No UID can be echoed: the body was not decoded.
func (h *Handler) badRequest(ctx context.Context, w http.ResponseWriter, code int32, err error) {
	logf.FromContext(ctx).Error(err, "rejecting an AdmissionReview")
	h.metrics.observe(&record{mode: modeUnknown, kind: kindOther, decision: decisionError, reason: reasonBadRequest}, 0)
	resp := admission.Errored(code, err)
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: &resp.AdmissionResponse,
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(review); err != nil {
		logf.FromContext(ctx).Error(err, "writing the AdmissionReview response")
	}
}
