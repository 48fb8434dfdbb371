// Command package packages the chart as `helm package` does (Helm's own action), for
// `make chart`: lint first, then bin/pullguard-<version>.tgz. A release passes -version and
// -app-version; SOURCE_DATE_EPOCH makes the archive reproducible.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
}

func run() error {
	chartDir := flag.String("chart", "pullguard", "chart directory")
	dest := flag.String("destination", "../bin", "directory the .tgz is written to")
	version := flag.String("version", "", "chart version (default: Chart.yaml's)")
	appVersion := flag.String("app-version", "", "appVersion, the default image tag (default: Chart.yaml's)")
	flag.Parse()

	var errs []error
	for _, m := range lint.RunAll(*chartDir, nil, "pullguard-system").Messages {
		if m.Severity >= support.WarningSev {
			errs = append(errs, m)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("helm lint: %w", err)
	}

	p := action.NewPackage()
	p.Destination, p.Version, p.AppVersion = *dest, *version, *appVersion
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", epoch, err)
		}
		t := time.Unix(sec, 0).UTC()
		p.SourceDateEpoch = &t
	}
	if err := os.MkdirAll(*dest, 0o755); err != nil {
		return err
	}
	path, err := p.Run(*chartDir, nil)
	if err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}
