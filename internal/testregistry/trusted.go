package testregistry

import "testing"

// Trusted is what most registry tests start from: a CA, its certificate in a file the engine
// trusts (as an operator's --registry-ca-file), and an empty network of fake registries it signs.
func Trusted(t testing.TB) (ca *CA, caFile string, network *Network) {
	t.Helper()
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	caFile, err = ca.WriteFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ca, caFile, NewNetwork()
}
