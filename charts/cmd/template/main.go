// Command template renders the chart as `helm template` does and prints the manifest on stdout,
// for installs without the helm binary: `make demo` applies its output with kubectl
// (server-side), as a GitOps tool applies a rendered chart. Values come as Helm's flags take
// them (-f, with - for stdin, then --set, --set-string, --set-file) and pass the chart's schema.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"helm.sh/helm/v4/pkg/cli/values"

	"github.com/pullguard/pullguard/charts/render"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "template:", err)
		os.Exit(1)
	}
}

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("template", flag.ContinueOnError)
	chartDir := fs.String("chart", "pullguard", "chart directory")
	var opts render.Options
	fs.StringVar(&opts.ReleaseName, "name", "pullguard", "release name")
	fs.StringVar(&opts.Namespace, "namespace", "pullguard-system", "release namespace")
	var v values.Options
	fs.Var((*list)(&v.ValueFiles), "f", "values file (repeatable; - reads stdin), as helm's -f")
	fs.Var((*list)(&v.Values), "set", "key=value (repeatable), as helm's --set")
	fs.Var((*list)(&v.StringValues), "set-string", "key=value kept a string (repeatable), as helm's --set-string")
	fs.Var((*list)(&v.FileValues), "set-file", "key=path, the file's content as the value (repeatable), as helm's --set-file")
	fs.Var((*list)(&opts.APIVersions), "api-versions", "an API version the cluster serves (repeatable), as helm's --api-versions; "+
		render.CertManagerAPI+" makes certificates.mode auto choose cert-manager")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	// No getter providers: values come from local files and stdin only, never from a URL.
	vals, err := v.MergeValues(nil)
	if err != nil {
		return err
	}
	opts.Values = vals
	templates, err := render.RenderDir(*chartDir, opts)
	if err != nil {
		return err
	}
	_, err = out.Write(render.Manifest(templates))
	return err
}
