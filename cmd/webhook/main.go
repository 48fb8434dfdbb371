// Command webhook is the pullguard validating admission webhook. Everything but the process
// boundary (signals, exit code) lives in package app.
package main

import (
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/pullguard/pullguard/cmd/webhook/app"
)

func main() {
	ctx := ctrl.SetupSignalHandler()
	if err := app.Main(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		// The one place an error is logged; app.Main has pointed the logger at stderr.
		ctrl.Log.WithName("webhook").Error(err, "Webhook failed")
		os.Exit(1)
	}
}
