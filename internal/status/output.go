package status

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"
)

// Format is an output format of `leaselb status -o`.
type Format string

// The formats.
const (
	Table Format = ""
	Wide  Format = "wide"
	JSON  Format = "json"
	YAML  Format = "yaml"
)

// ParseFormat checks an -o value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Table, Wide, JSON, YAML:
		return f, nil
	case "table":
		return Table, nil
	}
	return "", fmt.Errorf("status: -o %q: want wide, json or yaml (or nothing for the table)", s)
}

// Write writes r in format f.
func Write(w io.Writer, r Report, f Format) error {
	switch f {
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case YAML:
		b, err := yaml.Marshal(r)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return writeTable(w, r, f == Wide)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ago(now time.Time, t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	d := now.Sub(*t)
	if d < 0 {
		d = 0
	}
	return duration.HumanDuration(d)
}

func (g *Group) holderCell() string {
	switch g.State {
	case StateAnnounced:
		return g.Holder
	case StateStale:
		return g.Holder + " (stale)"
	}
	return "<none>"
}

// interfaceCell says what is known of the holder's interfaces: the names
// from its Announcing Event, else its MACs from its node lease.
func (g *Group) interfaceCell(wide bool) string {
	i := g.Interfaces
	if i == nil {
		return "-"
	}
	s := ""
	switch {
	case len(i.Names) > 0:
		s = strings.Join(i.Names, ",")
		if i.Warning {
			s += " (some IPs on none)"
		}
	case len(i.MACs) > 0 && !wide:
		s = "mac " + strings.Join(i.MACs, ",")
	case i.Warning:
		s = "none"
	default:
		s = "?"
	}
	return s
}

func pools(g *Group) string {
	var out []string
	for _, p := range g.Pools {
		p = orDash(p)
		if len(out) == 0 || out[len(out)-1] != p {
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
}

func (g *Group) handoverCell(now time.Time, wide bool) string {
	h := g.LastHandover
	if h == nil {
		return "-"
	}
	var b strings.Builder
	if h.From != "" {
		b.WriteString("from " + h.From + " ")
	}
	b.WriteString(h.Reason)
	if h.Time != nil {
		b.WriteString(" " + ago(now, h.Time) + " ago")
	}
	if wide && h.Message != "" {
		b.WriteString(": " + h.Message)
	}
	return b.String()
}

func writeTable(w io.Writer, r Report, wide bool) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	head := "SERVICE\tIPS\tPOOL\tHOLDER\tINTERFACES\tSINCE\tLAST HANDOVER"
	if wide {
		head = "SERVICE\tIPS\tPOOL\tHOLDER\tINTERFACES\tMACS\tSINCE\tLEASE\tSTATE\tTRANSITIONS\tLAST HANDOVER"
	}
	fmt.Fprintln(tw, head)
	var notes []string
	for i := range r.Groups {
		g := &r.Groups[i]
		for _, svc := range g.Services {
			if wide {
				macs := "-"
				if g.Interfaces != nil && len(g.Interfaces.MACs) > 0 {
					macs = strings.Join(g.Interfaces.MACs, ",")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", svc, strings.Join(g.IPs, ","), pools(g), g.holderCell(),
					g.interfaceCell(true), macs, ago(r.Time, g.Since), g.Lease, g.State, g.Transitions, g.handoverCell(r.Time, true))
			} else {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", svc, strings.Join(g.IPs, ","), pools(g), g.holderCell(),
					g.interfaceCell(false), ago(r.Time, g.Since), g.handoverCell(r.Time, false))
			}
		}
		if len(g.Nodes) > 0 {
			notes = append(notes, whyNoHolder(g))
		}
	}
	for _, p := range r.Pending {
		if wide {
			fmt.Fprintf(tw, "%s\t<pending>\t-\t-\t-\t-\t-\t-\t-\t-\tno IP yet (%s)\n", p.Service, p.Reason)
		} else {
			fmt.Fprintf(tw, "%s\t<pending>\t-\t-\t-\t-\tno IP yet (%s)\n", p.Service, p.Reason)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	if len(r.Groups) == 0 && len(r.Pending) == 0 {
		b.WriteString("No LoadBalancer Services of leaselb's.\n")
	}
	for _, n := range notes {
		b.WriteString("\n" + n)
	}
	for src, err := range sortedMap(r.Unreadable) {
		fmt.Fprintf(&b, "\nwarning: could not read %s (%s): the table may be incomplete\n", src, err)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// whyNoHolder lists every node's decision for a group nobody announces.
func whyNoHolder(g *Group) string {
	var b strings.Builder
	what := "no holder"
	if g.State == StateStale {
		what = "holder " + g.Holder + " is gone (its node lease is stale)"
	}
	fmt.Fprintf(&b, "%s (%s): %s; each node's answer (the speakers' own decision):\n", strings.Join(g.IPs, ","), strings.Join(g.Services, ", "), what)
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	for _, n := range g.Nodes {
		reason, msg := n.Reason, n.Message
		if n.Candidate {
			reason, msg = "candidate", "may announce it; its speaker has not claimed it (is one running there?)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", n.Node, reason, msg)
	}
	_ = tw.Flush()
	return b.String()
}

// sortedMap yields m's entries by key.
func sortedMap(m map[string]string) func(func(string, string) bool) {
	return func(yield func(string, string) bool) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}
