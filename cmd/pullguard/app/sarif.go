package app

import (
	"encoding/json"
	"io"
	"net/url"
	"path/filepath"
	"slices"

	"github.com/pullguard/pullguard/pkg/registry"
)

// SARIF 2.1.0 (OASIS), the format code-scanning UIs read to annotate a line of a pull
// request: one rule per verdict class found, one result per image that is not pullable (level
// error) or unverifiable (level warning).
const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	toolURI      = "https://github.com/pullguard/pullguard"
)

type sarifLog struct {
	Version string     `json:"version"`
	Schema  string     `json:"$schema"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string       `json:"id"`
	ShortDescription sarifMessage `json:"shortDescription"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

func writeSARIF(w io.Writer, r *report) error {
	run := sarifRun{
		Tool:    sarifTool{Driver: sarifDriver{Name: "pullguard", Version: version, InformationURI: toolURI, Rules: []sarifRule{}}},
		Results: []sarifResult{},
	}
	var classes []string
	for _, res := range r.Results {
		if res.Outcome == registry.Pullable {
			continue
		}
		level := "error"
		if res.Outcome != registry.NotPullable {
			level = "warning"
		}
		id := string(res.Class)
		if !slices.Contains(classes, id) {
			classes = append(classes, id)
		}
		loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: sarifURI(res.File)}}}
		if res.Line > 0 {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: res.Line}
		}
		run.Results = append(run.Results, sarifResult{
			RuleID: id, Level: level, Locations: []sarifLocation{loc},
			Message: sarifMessage{Text: registry.OneLine(res.Object + " " + res.FieldPath + ": " + res.Image + ": " + res.Message)},
		})
	}
	slices.Sort(classes)
	for _, c := range classes {
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{ID: c, ShortDescription: sarifMessage{Text: "pullguard: image " + c}})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Version: sarifVersion, Schema: sarifSchema, Runs: []sarifRun{run}})
}

// sarifURI is a file as a relative URI reference (forward slashes); code-scanning UIs resolve
// it against the repository root, which is where CI runs.
func sarifURI(file string) string {
	return (&url.URL{Path: filepath.ToSlash(file)}).String()
}
