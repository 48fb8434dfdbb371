package admission

import (
	"context"
	"net/http"
)

// An AdmissionReview is only as trustworthy as its sender. The API server is the only
// legitimate one, but /validate is reachable by whatever the network lets through, and a
// forged review may name any namespace, secret names and image: the handler reads those
// secrets and checks the image with them. A caller is authenticated when its TLS client
// certificate was verified against the webhook's client CA (--client-ca-file), which only the
// API server's admission configuration holds a certificate for. Answers to anybody else must
// reveal nothing that only the named namespace's credentials could: the tag hint, which lists
// tags of a possibly private repository, is given to them only when the tags were read
// anonymously (see registry.Request.TrustedCaller), and the notes that say which secrets or
// ServiceAccount exist, what they hold and which of them failed are left out (the engine's
// messages name no secret either: pkg/registry/disclosure.go). Where the API server cannot
// present a certificate (many managed control planes) and the network already admits nobody
// else, Config.TrustUnauthenticatedCallers gives every caller those notes back.

type callerKey struct{}

// withCaller marks ctx with whether r came with a verified client certificate.
func withCaller(ctx context.Context, r *http.Request) context.Context {
	return context.WithValue(ctx, callerKey{}, r.TLS != nil && len(r.TLS.VerifiedChains) > 0)
}

// authenticatedCaller reports whether the request of ctx came with a verified client
// certificate.
func authenticatedCaller(ctx context.Context) bool {
	ok, _ := ctx.Value(callerKey{}).(bool)
	return ok
}

// trustedCaller reports whether the caller of ctx may learn what the named namespace's
// secrets reveal: it was authenticated, or the operator trusts every caller.
func (h *Handler) trustedCaller(ctx context.Context) bool {
	return h.cfg.TrustUnauthenticatedCallers || authenticatedCaller(ctx)
}
