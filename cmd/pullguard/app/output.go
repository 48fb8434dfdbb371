package app

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/registry"
)

// Exit statuses of check.
const (
	exitOK           = 0
	exitNotPullable  = 1
	exitUsage        = 2
	exitUnverifiable = 3
)

// summary counts the results.
type summary struct {
	Images           int  `json:"images"`
	Pullable         int  `json:"pullable"`
	NotPullable      int  `json:"notPullable"`
	Unverifiable     int  `json:"unverifiable"`
	RegistryChecks   int  `json:"registryChecks"`
	PlatformsChecked bool `json:"platformsChecked"`
}

func (r *report) summary() summary {
	s := summary{Images: len(r.Results), RegistryChecks: r.Checks, PlatformsChecked: r.PlatformsChecked}
	for _, res := range r.Results {
		switch res.Outcome {
		case registry.Pullable:
			s.Pullable++
		case registry.NotPullable:
			s.NotPullable++
		default:
			s.Unverifiable++
		}
	}
	return s
}

// exitStatus: 1 when any image will not pull; 3 when none will not but some could not be
// verified and failOn asks for it; else 0.
func (r *report) exitStatus(failOn string) int {
	s := r.summary()
	switch {
	case s.NotPullable > 0:
		return exitNotPullable
	case s.Unverifiable > 0 && failOn == failOnUnverifiable:
		return exitUnverifiable
	}
	return exitOK
}

// position is kubectl's "file:line", or the file alone when the line is unknown.
func position(file string, line int) string {
	if line <= 0 {
		return file
	}
	return file + ":" + strconv.Itoa(line)
}

// writeText prints one line per finding, as kubectl prints a webhook's warnings but prefixed
// with the source position and the object, then a one-line summary.
func writeText(w io.Writer, r *report, verbose bool) error {
	for _, res := range r.Results {
		if res.Outcome == registry.Pullable && !verbose {
			continue
		}
		msg := res.Message
		if res.Outcome == registry.Pullable {
			msg = fmt.Sprintf("image %q is pullable", res.Image)
			if len(res.Platforms) > 0 {
				msg += fmt.Sprintf(" for %v", res.Platforms)
			}
		}
		line := fmt.Sprintf("%s: %s %s", position(res.File, res.Line), res.Object, admission.Attributed(res.FieldPath, msg))
		if res.Credential != "" {
			line += " [checked with " + res.Credential + "]"
		}
		if _, err := fmt.Fprintln(w, registry.OneLine(line)); err != nil {
			return err
		}
	}
	for _, n := range r.Notes {
		if _, err := fmt.Fprintln(w, registry.OneLine(fmt.Sprintf("%s: %s %s", position(n.File, n.Line), n.Object, n.Message))); err != nil {
			return err
		}
	}
	if verbose {
		for _, s := range r.Skipped {
			if _, err := fmt.Fprintln(w, registry.OneLine(s)); err != nil {
				return err
			}
		}
	}
	if len(r.ClusterReads) > 0 {
		if _, err := fmt.Fprintln(w, registry.OneLine("pullguard: read from the cluster: "+strings.Join(r.ClusterReads, ", "))); err != nil {
			return err
		}
	}
	s := r.summary()
	text := fmt.Sprintf("pullguard: %d images: %d pullable, %d not pullable, %d unverifiable (%d registry checks)",
		s.Images, s.Pullable, s.NotPullable, s.Unverifiable, s.RegistryChecks)
	if !s.PlatformsChecked {
		text += "; platforms not checked: give the nodes' platforms with --platform, or a cluster with --kubeconfig or --context"
	}
	_, err := fmt.Fprintln(w, text)
	return err
}

// jsonReport is the -o json document. Its fields are a stable interface: new fields may be
// added, none is renamed or removed within apiVersion pullguard.io/v1alpha1.
type jsonReport struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Results    []jsonResult `json:"results"`
	Notes      []jsonNote   `json:"notes"`
	// ClusterReads names the Secrets and ServiceAccounts read from the cluster
	// ("Secret team-a/regcred", "... (not found)"), never their content.
	ClusterReads []string `json:"clusterReads"`
	Summary      summary  `json:"summary"`
}

type jsonResult struct {
	Object     string   `json:"object"`
	Namespace  string   `json:"namespace"`
	FieldPath  string   `json:"fieldPath"`
	Image      string   `json:"image"`
	Outcome    string   `json:"outcome"`
	Class      string   `json:"class"`
	Message    string   `json:"message"`
	Fix        string   `json:"fix"`
	Credential string   `json:"credential"`
	Platforms  []string `json:"platforms"`
	File       string   `json:"file"`
	Line       int      `json:"line"`
}

type jsonNote struct {
	Object  string `json:"object"`
	Message string `json:"message"`
	File    string `json:"file"`
	Line    int    `json:"line"`
}

func writeJSON(w io.Writer, r *report) error {
	out := jsonReport{APIVersion: "pullguard.io/v1alpha1", Kind: "CheckReport", Results: []jsonResult{}, Notes: []jsonNote{}, ClusterReads: append([]string{}, r.ClusterReads...), Summary: r.summary()}
	for _, res := range r.Results {
		out.Results = append(out.Results, jsonResult{
			Object: res.Object, Namespace: res.Namespace, FieldPath: res.FieldPath, Image: res.Image,
			Outcome: res.Outcome.String(), Class: string(res.Class), Message: res.Message, Fix: res.Fix,
			Credential: res.Credential, Platforms: res.Platforms, File: res.File, Line: res.Line,
		})
	}
	for _, n := range r.Notes {
		out.Notes = append(out.Notes, jsonNote(n))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
