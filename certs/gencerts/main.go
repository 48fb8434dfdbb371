// Command gencerts writes a private CA and a TLS serving certificate for the webhook, for clusters
// without cert-manager and for local runs. See certs/README.md for the install steps.
//
//	go run ./certs/gencerts --out-dir /tmp/pullguard-certs --print-ca-bundle
//
// writes ca.crt, tls.crt and tls.key and prints the base64 caBundle on stdout, and nothing else
// there, so that a script can capture it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pullguard/pullguard/certs/selfca"
)

// defaultDNSNames are the names the API server uses to reach the webhook Service of manifests/
// (clientConfig.service → <name>.<namespace>.svc); the .cluster.local form is for in-cluster
// clients that use the fully qualified name.
var defaultDNSNames = []string{
	"pullguard-webhook.pullguard-system.svc",
	"pullguard-webhook.pullguard-system.svc.cluster.local",
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gencerts:", err)
		}
		os.Exit(2)
	}
}

// listFlag collects a flag that may be repeated and may hold comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gencerts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		dnsNames, ipFlags listFlag
		outDir            string
		validity          time.Duration
		printCABundle     bool
	)
	fs.Var(&dnsNames, "dns", "DNS name for the serving certificate; repeatable or comma-separated (default "+strings.Join(defaultDNSNames, ",")+")")
	fs.Var(&ipFlags, "ip", "IP address for the serving certificate; repeatable or comma-separated")
	fs.StringVar(&outDir, "out-dir", "", "directory to write ca.crt, tls.crt and tls.key into (required)")
	fs.DurationVar(&validity, "validity", 365*24*time.Hour, "lifetime of the CA and the serving certificate")
	fs.BoolVar(&printCABundle, "print-ca-bundle", false, "print the base64 caBundle for the ValidatingWebhookConfiguration on stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if outDir == "" {
		return errors.New("--out-dir is required")
	}
	// The defaults apply only when no subject is given at all: --ip 127.0.0.1 alone is a local
	// run and needs no cluster names.
	if len(dnsNames) == 0 && len(ipFlags) == 0 {
		dnsNames = defaultDNSNames
	}
	ips := make([]net.IP, 0, len(ipFlags))
	for _, s := range ipFlags {
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("--ip %q is not an IP address", s)
		}
		ips = append(ips, ip)
	}

	bundle, err := selfca.Generate(dnsNames, ips, validity)
	if err != nil {
		return fmt.Errorf("generating certificates: %w", err)
	}
	if err := bundle.WriteDir(outDir); err != nil {
		return fmt.Errorf("writing certificates: %w", err)
	}
	fmt.Fprintf(stderr, "wrote %s, %s and %s to %s for %s\n", selfca.CACertFile, selfca.CertFile, selfca.KeyFile,
		outDir, strings.Join(slices.Concat(dnsNames, ipFlags), ", "))
	if printCABundle {
		if _, err := fmt.Fprintln(stdout, bundle.CABundle()); err != nil {
			return fmt.Errorf("printing caBundle: %w", err)
		}
	}
	return nil
}
