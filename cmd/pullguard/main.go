// Command pullguard checks, before the cluster, that the nodes will be able to pull every image
// of a set of manifests, with the pullguard webhook's engine and messages. Named
// kubectl-pullguard on $PATH, it is the kubectl plugin `kubectl pullguard`. Everything but the
// process boundary (signals, exit status) lives in package app.
package main

import (
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/pullguard/pullguard/cmd/pullguard/app"
)

func main() {
	ctx := ctrl.SetupSignalHandler()
	os.Exit(app.Main(ctx, os.Args[1:], app.IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
}
