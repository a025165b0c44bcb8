package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Report is the JSON document `leaselb doctor -o json` prints.
type Report struct {
	// Namespace is leaselb's namespace that was checked.
	Namespace string `json:"namespace"`
	// Status is the worst severity of the findings: ok, warn or fail.
	Status   Severity  `json:"status"`
	Findings []Finding `json:"findings"`
	// Counts are the number of findings per severity.
	Counts map[Severity]int `json:"counts"`
}

// NewReport summarises findings.
func NewReport(namespace string, findings []Finding) Report {
	if findings == nil {
		findings = []Finding{}
	}
	return Report{
		Namespace: namespace,
		Status:    Worst(findings),
		Findings:  findings,
		Counts:    map[Severity]int{OK: Count(findings, OK), Warn: Count(findings, Warn), Fail: Count(findings, Fail)},
	}
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

var marks = map[Severity]string{OK: "[ok]  ", Warn: "[warn]", Fail: "[FAIL]"}

// WriteText writes r for a person: one line per finding, the fix indented
// under it, and a closing summary.
func WriteText(w io.Writer, r Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "leaselb doctor (namespace %s)\n\n", r.Namespace)
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%s %-14s ", marks[f.Severity], f.Check)
		if f.Object != "" {
			fmt.Fprintf(&b, "%s: ", f.Object)
		}
		b.WriteString(f.Message)
		b.WriteString("\n")
		if f.Fix != "" {
			for i, line := range strings.Split(f.Fix, "\n") {
				if i == 0 {
					fmt.Fprintf(&b, "       %-14s fix: %s\n", "", line)
				} else {
					fmt.Fprintf(&b, "       %-14s      %s\n", "", line)
				}
			}
		}
	}
	b.WriteString("\n")
	switch r.Status {
	case OK:
		fmt.Fprintf(&b, "No problems found (%d checks passed).\n", r.Counts[OK])
	case Warn:
		fmt.Fprintf(&b, "No problems found, %d warning(s): read them above.\n", r.Counts[Warn])
	default:
		fmt.Fprintf(&b, "%d problem(s) and %d warning(s) found: each [FAIL] line says what to change.\n", r.Counts[Fail], r.Counts[Warn])
	}
	_, err := io.WriteString(w, b.String())
	return err
}
