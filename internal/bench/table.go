package bench

import (
	"fmt"
	"io"
	"strings"
)

// Row is one line of the bench table: a measurement against its baseline from the same run.
type Row struct {
	Name     string
	Result   string
	Baseline string
	// Ratio is the measured ratio (result over baseline), formatted by the row's author.
	Ratio  string
	Target string
	Met    bool
	// Err, when set, replaces the measurement: the row could not be measured.
	Err error
}

// WriteTable writes rows as a Markdown table, so that the same output reads in a terminal and
// pastes into docs/benchmarks.md.
func WriteTable(w io.Writer, rows []Row) error {
	header := []string{"Measurement", "Result", "Baseline (same run)", "Ratio", "Target", "Met"}
	cells := [][]string{header}
	for _, r := range rows {
		met := "no"
		if r.Met {
			met = "yes"
		}
		if r.Err != nil {
			cells = append(cells, []string{r.Name, "error: " + r.Err.Error(), "", "", r.Target, "no"})
			continue
		}
		cells = append(cells, []string{r.Name, r.Result, r.Baseline, r.Ratio, r.Target, met})
	}
	widths := make([]int, len(header))
	for _, row := range cells {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	line := func(row []string) {
		b.WriteString("|")
		for i, c := range row {
			fmt.Fprintf(&b, " %-*s |", widths[i], c)
		}
		b.WriteString("\n")
	}
	line(cells[0])
	b.WriteString("|")
	for _, w := range widths {
		b.WriteString(strings.Repeat("-", w+2) + "|")
	}
	b.WriteString("\n")
	for _, row := range cells[1:] {
		line(row)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
