package testregistry

// IssuedTokens returns every bearer token the token endpoint has handed out, so that a test can
// look for them where they must never appear (logs, messages, metrics).
func (r *Registry) IssuedTokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.tokens))
	for tok := range r.tokens {
		out = append(out, tok)
	}
	return out
}
