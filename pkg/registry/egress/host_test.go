package egress

import "testing"

func TestRegistriesMatch(t *testing.T) {
	list, err := ParseRegistries([]string{"harbor.local", "reg.example.com:5000", "10.0.0.7", "[fd00::1]:443"})
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]bool{
		"harbor.local":         true,
		"harbor.local:8080":    true,
		"HARBOR.local":         true,
		"reg.example.com:5000": true,
		"reg.example.com":      false,
		"reg.example.com:5001": false,
		"10.0.0.7:5000":        true,
		"[fd00::1]:443":        true,
		"[fd00::1]":            false,
		"other.local":          false,
		"":                     false,
		"[broken":              false,
	}
	for registry, want := range tests {
		t.Run(registry, func(t *testing.T) {
			if got := list.Match(registry); got != want {
				t.Errorf("Match(%q) = %v, want %v", registry, got, want)
			}
		})
	}
	if _, err := ParseRegistries([]string{"bad host:x"}); err == nil {
		t.Error("ParseRegistries accepted an invalid entry")
	}
}
