package admission

import (
	"context"
	"net/http"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
)

// FuzzRequestBudget: whatever the API server (or anything else) puts in ?timeout=, the budget
// is positive and never above MaxBudget.
func FuzzRequestBudget(f *testing.F) {
	for _, s := range []string{"", "10s", "2.5s", "1s", "0s", "-1s", "1h", "9223372036s", "1e3s", "nan"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, timeout string) {
		const maxBudget, margin = 8 * time.Second, time.Second
		b := requestBudget(timeout, maxBudget, margin)
		if b <= 0 || b > maxBudget {
			t.Errorf("requestBudget(%q) = %s, want in (0, %s]", timeout, b, maxBudget)
		}
	})
}

// FuzzHandlePod: any object bytes get an answer with the request's UID, and a panic never
// reaches the answer: an object is either checked or a 400.
func FuzzHandlePod(f *testing.F) {
	for _, s := range []string{
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx:1.999"}]}}`,
		`{"spec":{"volumes":[{"name":"v","image":{"reference":"Nginx:1"}}],"imagePullSecrets":[{"name":""}]}}`,
		`{"spec":{"nodeSelector":{"kubernetes.io/arch":"arm64"},"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{}]}}}}}`,
		`{"spec":{"containers":"x"}}`,
		`null`,
		``,
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f, testConfig(func(c *Config) { c.DefaultMode = ModeEnforce }), badChecker(),
		node("a", "linux", "amd64", nil))
	codes := sets.New[int32](http.StatusOK, http.StatusBadRequest, http.StatusUnprocessableEntity)
	f.Fuzz(func(t *testing.T, obj []byte) {
		req := review(t, admissionv1.Create, pod(), nil)
		req.Object = runtime.RawExtension{Raw: obj}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp := e.h.Handle(ctx, req)
		if resp.UID != req.UID || resp.Result == nil && !resp.Allowed || resp.Result != nil && resp.Result.Code != 0 && !codes.Has(resp.Result.Code) {
			t.Errorf("object %q: uid=%q allowed=%v result=%+v", obj, resp.UID, resp.Allowed, resp.Result)
		}
	})
}
