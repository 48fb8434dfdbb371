package admission

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	k8sjson "sigs.k8s.io/json"
)

// FuzzAdmissionReview sends arbitrary bytes as the body of a POST to the handler Setup
// registers, the way the API server would. Whatever the bytes, the answer is HTTP 200 with an
// AdmissionReview carrying a response, a refusal carries a status code of the known set and a
// message, a panic never gets through (no 500), and a UID in the answer is the request's own.
// Seeds are in testdata/fuzz/FuzzAdmissionReview.
func FuzzAdmissionReview(f *testing.F) {
	e := newEnv(f, testConfig(func(c *Config) { c.DefaultMode, c.MaxRequestBytes = ModeEnforce, 1<<20 }), badChecker(),
		node("a", "linux", "amd64", nil))
	handler := e.h.HTTPHandler()
	codes := sets.New[int32](http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, Path+"?timeout=5s", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("HTTP %d; the real status belongs in the AdmissionReview", rec.Code)
		}
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("answer %q is not an AdmissionReview with a response: %v", rec.Body.Bytes(), err)
		}
		r := out.Response
		if !r.Allowed && (r.Result == nil || r.Result.Message == "" || !codes.Has(r.Result.Code)) {
			t.Fatalf("refusal without a known code and a message: %+v", r.Result)
		}
		if r.UID == "" {
			return
		}
		var in struct {
			Request *struct {
				UID string `json:"uid"`
			} `json:"request"`
		}
		// Field names match case-sensitively, as in the API machinery's decoder.
		if err := k8sjson.UnmarshalCaseSensitivePreserveInts(body, &in); err != nil || in.Request == nil || string(r.UID) != in.Request.UID {
			t.Fatalf("answer UID %q is not the request's (%v)", r.UID, err)
		}
	})
}
