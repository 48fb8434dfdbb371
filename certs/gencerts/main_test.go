package main

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pullguard/pullguard/certs/selfca"
)

func TestRun(t *testing.T) {
	tests := map[string]struct {
		args         []string
		wantDNS      []string
		wantIPs      []string
		wantNotAfter time.Duration
		wantStdout   bool
	}{
		"defaults are the Service names": {
			wantDNS:      defaultDNSNames,
			wantNotAfter: 365 * 24 * time.Hour,
		},
		"local run on loopback": {
			args:         []string{"--ip", "127.0.0.1", "--ip=::1", "--validity", "2h", "--print-ca-bundle"},
			wantIPs:      []string{"127.0.0.1", "::1"},
			wantNotAfter: 2 * time.Hour,
			wantStdout:   true,
		},
		"comma-separated and repeated names": {
			args:         []string{"--dns", "localhost, webhook.test", "--dns", "other.test", "--ip", "127.0.0.1"},
			wantDNS:      []string{"localhost", "webhook.test", "other.test"},
			wantIPs:      []string{"127.0.0.1"},
			wantNotAfter: 365 * 24 * time.Hour,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var stdout, stderr bytes.Buffer
			start := time.Now()
			if err := run(append([]string{"--out-dir", dir}, tc.args...), &stdout, &stderr); err != nil {
				t.Fatalf("run: %v (stderr %q)", err, stderr.String())
			}
			certPEM, err := os.ReadFile(filepath.Join(dir, selfca.CertFile))
			if err != nil {
				t.Fatalf("reading %s: %v", selfca.CertFile, err)
			}
			block, _ := pem.Decode(certPEM)
			if block == nil {
				t.Fatal("no PEM in tls.crt")
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatalf("parsing tls.crt: %v", err)
			}
			if !slices.Equal(cert.DNSNames, tc.wantDNS) {
				t.Errorf("DNS names %q, want %q", cert.DNSNames, tc.wantDNS)
			}
			var ips []string
			for _, ip := range cert.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tc.wantIPs) {
				t.Errorf("IPs %q, want %q", ips, tc.wantIPs)
			}
			if d := cert.NotAfter.Sub(start); d < tc.wantNotAfter-time.Minute || d > tc.wantNotAfter+time.Minute {
				t.Errorf("certificate expires %v after issuance, want %v", d, tc.wantNotAfter)
			}

			caPEM, err := os.ReadFile(filepath.Join(dir, selfca.CACertFile))
			if err != nil {
				t.Fatalf("reading %s: %v", selfca.CACertFile, err)
			}
			if !tc.wantStdout {
				if stdout.Len() != 0 {
					t.Errorf("stdout %q, want nothing without --print-ca-bundle", stdout.String())
				}
				return
			}
			got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(stdout.String()))
			if err != nil {
				t.Fatalf("stdout is not base64: %v", err)
			}
			if !bytes.Equal(got, caPEM) {
				t.Error("printed caBundle is not the written ca.crt")
			}
		})
	}
}

func TestRunRejects(t *testing.T) {
	tests := map[string][]string{
		"no out-dir":     {"--dns", "localhost"},
		"bad IP":         {"--out-dir", "OUT", "--ip", "not-an-ip"},
		"zero validity":  {"--out-dir", "OUT", "--validity", "0s"},
		"unknown flag":   {"--out-dir", "OUT", "--key-size", "4096"},
		"stray argument": {"--out-dir", "OUT", "extra"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			for i, a := range args {
				if a == "OUT" {
					args[i] = dir
				}
			}
			var stdout, stderr bytes.Buffer
			if err := run(args, &stdout, &stderr); err == nil {
				t.Fatal("run succeeded, want an error")
			}
			if _, err := os.Stat(filepath.Join(dir, selfca.KeyFile)); err == nil {
				t.Error("a key was written despite the error")
			}
		})
	}
}
