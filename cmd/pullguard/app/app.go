// Package app is the pullguard command line: `pullguard check` asks the webhook's registry
// engine, with the webhook's own image extraction, credential resolution, candidate platforms
// and wording, whether the kubelet will pull every image of a set of manifests, before they
// reach a cluster (in CI); `pullguard explain` asks it about the pods already in a cluster and
// sets its answer against the node's own error text (pkg/nodeerror). main only calls Main;
// tests call it too, in process.
//
// The same binary is a kubectl plugin when named kubectl-pullguard: `kubectl pullguard check`.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/spf13/pflag"
	"golang.org/x/term"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/pkg/registry"
)

// version is set at build time: -ldflags "-X github.com/pullguard/pullguard/cmd/pullguard/app.version=...".
var version = "dev"

// IO is what Main reads and writes.
type IO struct {
	In          io.Reader
	Out, ErrOut io.Writer
}

// Main runs the command line args (without the program name) and returns the exit status.
// Errors are printed once, on ErrOut.
func Main(ctx context.Context, args []string, streams IO) int {
	name := "pullguard"
	if len(args) == 0 {
		fmt.Fprint(streams.ErrOut, usage(name))
		return exitUsage
	}
	switch args[0] {
	case "check":
		return check(ctx, args[1:], streams)
	case "explain":
		return explain(ctx, args[1:], streams)
	case "version", "--version":
		fmt.Fprintf(streams.Out, "pullguard %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(streams.Out, usage(name))
		return exitOK
	}
	fmt.Fprintf(streams.ErrOut, "pullguard: unknown command %q\n\n%s", args[0], usage(name))
	return exitUsage
}

func usage(name string) string {
	return name + ": will the nodes be able to pull these images? The pullguard webhook's checks, before the cluster.\n\n" +
		"Usage:\n" +
		"  pullguard check -f FILE|DIR|- [-R] [-k DIR] [flags]   check manifests (exit 0 pullable, 1 not pullable, 3 unverifiable with --fail-on=unverifiable, 2 usage or input error)\n" +
		"  pullguard explain pod/NAME|deploy/NAME [-n NS] | -A     why a pod waits on its image, and the fix (reads the cluster, never changes it)\n" +
		"  pullguard version\n" +
		"  pullguard check --help                              every flag of check\n\n" +
		"As a kubectl plugin (the binary named kubectl-pullguard on $PATH): kubectl pullguard check -f deploy.yaml\n"
}

func check(ctx context.Context, args []string, streams IO) int {
	o, err := parseCheckArgs(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		d := defaultCheckOptions()
		fmt.Fprint(streams.Out, "Usage:\n  pullguard check -f FILE|DIR|- [-R] [-k DIR] [flags]\n\nFlags:\n"+newCheckFlagSet(&d).FlagUsages())
		return exitOK
	case err != nil:
		fmt.Fprintf(streams.ErrOut, "pullguard check: %v\n", err)
		return exitUsage
	}
	var cluster client.Reader
	if o.Cluster.given() {
		if cluster, err = o.Cluster.client(); err != nil {
			fmt.Fprintf(streams.ErrOut, "pullguard check: %v\n", err)
			return exitUsage
		}
	}
	return checkAndReport(ctx, o, streams, cluster)
}

// checkAndReport is check once its options are parsed and its cluster (nil: none) connected.
func checkAndReport(ctx context.Context, o checkOptions, streams IO, cluster client.Reader) int {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	ropts := o.Registry
	ropts.UserAgent = "pullguard-cli/" + version
	checker, err := registry.New(ropts)
	if err != nil {
		fmt.Fprintf(streams.ErrOut, "pullguard check: %v\n", err)
		return exitUsage
	}
	rep, err := runCheck(ctx, o, streams.In, checker, cluster, progressFor(streams.ErrOut))
	if err != nil {
		fmt.Fprintf(streams.ErrOut, "pullguard check: %v\n", err)
		return exitUsage
	}
	sortResults(rep.Results)
	switch o.Output {
	case outputJSON:
		err = writeJSON(streams.Out, rep)
	case outputSARIF:
		err = writeSARIF(streams.Out, rep)
	default:
		err = writeText(streams.Out, rep, o.Verbose)
	}
	if err != nil {
		fmt.Fprintf(streams.ErrOut, "pullguard check: writing the report: %v\n", err)
		return exitUsage
	}
	return rep.exitStatus(o.FailOn)
}

// progressFor shows progress only on a terminal: CI logs get the findings and nothing else.
func progressFor(w io.Writer) *progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &progress{w: w}
	}
	return nil
}
