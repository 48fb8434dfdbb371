package registry

import (
	"strings"
	"testing"

	"github.com/pullguard/pullguard/pkg/registry/keyring"
	"github.com/pullguard/pullguard/pkg/registry/reference"
)

func TestRedactor(t *testing.T) {
	alice := keyring.Credential{Username: "alice", Password: `s3cr<t "pw"/+&`, Secret: "regcred", Key: "reg.example.com"}
	tests := map[string]struct {
		creds []keyring.Credential
		in    string
		want  string
	}{
		"raw password":              {creds: []keyring.Credential{alice}, in: `bad password s3cr<t "pw"/+& here`, want: "bad password [redacted] here"},
		"base64 auth string":        {creds: []keyring.Credential{alice}, in: "auth " + b64(`alice:s3cr<t "pw"/+&`), want: "auth [redacted]"},
		"base64 password":           {creds: []keyring.Credential{alice}, in: "pw " + b64(`s3cr<t "pw"/+&`), want: "pw [redacted]"},
		"JSON-escaped password":     {creds: []keyring.Credential{alice}, in: `{"p":"s3cr\u003ct \"pw\"/+\u0026"}`, want: `{"p":"[redacted]"}`},
		"Go-quoted password":        {creds: []keyring.Credential{alice}, in: `"s3cr<t \"pw\"/+&"`, want: `"[redacted]"`},
		"query-escaped password":    {creds: []keyring.Credential{alice}, in: "?p=s3cr%3Ct+%22pw%22%2F%2B%26", want: "?p=[redacted]"},
		"username alone is kept":    {creds: []keyring.Credential{alice}, in: "user alice", want: "user alice"},
		"anonymous redacts nothing": {creds: []keyring.Credential{{Password: "hunter22"}}, in: "hunter22", want: "hunter22"},
		"no credentials":            {in: "text", want: "text"},
		"short password is not searched": {
			creds: []keyring.Credential{{Username: "u", Password: "app"}}, in: "team/app", want: "team/app"},
		"every candidate": {
			creds: []keyring.Credential{alice, {Username: "bob", Password: "b0b-password"}},
			in:    "b0b-password and s3cr<t \"pw\"/+&", want: "[redacted] and [redacted]"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := newRedactor(tc.creds).string(tc.in); got != tc.want {
				t.Errorf("redacted %q = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestRedactBeforeCut checks that a credential straddling the cut of copied text is redacted
// whole rather than cut into a prefix that survives.
func TestRedactBeforeCut(t *testing.T) {
	cred := keyring.Credential{Username: "alice", Password: "Straddling-Password-123"}
	ref, err := reference.Parse("reg.example.com/team/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	p := probe{ref: ref, redact: newRedactor([]keyring.Credential{cred})}
	body := strings.Repeat("x", maxCauseLen-5) + cred.Password
	v := p.unverifiable(failure{class: ClassInvalidResponse, unknown: true, err: errText(body)}, nil)
	if strings.Contains(v.Detail, "Stra") {
		t.Errorf("detail keeps a prefix of the password: %q", v.Detail)
	}
}

type errText string

func (e errText) Error() string { return string(e) }
