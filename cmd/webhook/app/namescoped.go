package app

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
)

// nameScoped is a client transport that narrows list and watch requests on some collections to
// one object, by adding a metadata.name field selector: names maps a collection's path
// (/api/v1/namespaces/<ns>/secrets) to the object's name. With the selector, the API server
// authorizes the request against RBAC resourceNames, and answers with that object alone.
type nameScoped struct {
	next  http.RoundTripper
	names map[string]string
}

func (n nameScoped) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet {
		return n.next.RoundTrip(req)
	}
	for collection, name := range n.names {
		// A suffix: the configured host may carry a path prefix (an API proxy's).
		if !strings.HasSuffix(req.URL.Path, collection) {
			continue
		}
		selector := fields.OneTermEqualSelector("metadata.name", name)
		q := req.URL.Query()
		if given := q.Get("fieldSelector"); given != "" {
			parsed, err := fields.ParseSelector(given)
			if err != nil {
				return nil, err
			}
			selector = fields.AndSelectors(selector, parsed)
		}
		q.Set("fieldSelector", selector.String())
		req = req.Clone(req.Context())
		req.URL.RawQuery = q.Encode()
		break
	}
	return n.next.RoundTrip(req)
}
