package app

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/pullguard/pullguard/pkg/registry"
)

// maxEvidenceEvents bounds the kubelet messages shown per container: the newest say it all.
const maxEvidenceEvents = 3

// writeExplainText prints, per image: what the node said, what the registry answers now, the
// cause in plain words and the fix.
func writeExplainText(w io.Writer, ds []diagnosis) error {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "pod/%s -n %s, %s (container %q): image %q\n", registry.OneLine(d.Pod), registry.OneLine(d.Namespace), d.FieldPath, d.Container, d.Image)
		if d.Reason != "" {
			fmt.Fprintf(&b, "  node:     %s: %s\n", d.Reason, registry.OneLine(d.Message))
		}
		for j, e := range d.Events {
			if j == maxEvidenceEvents {
				break
			}
			fmt.Fprintf(&b, "  kubelet:  %s\n", registry.OneLine(e))
		}
		if d.Platforms != "" {
			fmt.Fprintf(&b, "  platform: %s\n", d.Platforms)
		}
		registryNow := d.Outcome.String() + ": " + d.EngineMessage
		if d.Verdict.Credential != "" {
			registryNow += " (with " + d.Verdict.Credential + ")"
		}
		fmt.Fprintf(&b, "  registry: %s\n", registry.OneLine(registryNow))
		for _, n := range d.Notes {
			fmt.Fprintf(&b, "  note:     %s\n", n)
		}
		fmt.Fprintf(&b, "  cause:    %s\n", registry.OneLine(d.Cause))
		for j, f := range d.Fix {
			label := "  fix:      "
			if j > 0 {
				label = "            "
			}
			fmt.Fprintf(&b, "%s%s\n", label, registry.OneLine(f))
		}
	}
	if len(ds) == 0 {
		b.WriteString("no images to explain\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeExplainTable is -A's table: one row per failing container, its first fix.
func writeExplainTable(w io.Writer, ds []diagnosis) error {
	if len(ds) == 0 {
		_, err := io.WriteString(w, "no pod waits on an image\n")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tPOD\tCONTAINER\tCAUSE\tFIX")
	for _, d := range ds {
		fix := ""
		if len(d.Fix) > 0 {
			fix = d.Fix[0]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Namespace, d.Pod, d.Container, registry.OneLine(d.Cause), registry.OneLine(fix))
	}
	return tw.Flush()
}
