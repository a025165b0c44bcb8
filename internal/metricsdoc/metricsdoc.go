package metricsdoc

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// A Metric is one row of docs/metrics.md.
type Metric struct {
	// Name is the full metric name (leaselb_...).
	Name string
	// Type is counter, gauge, histogram or summary.
	Type string
	// Labels are the metric's variable labels, sorted.
	Labels []string
	// Meaning is the row's description.
	Meaning string
}

// Types are the metric types a row may name.
var Types = []string{"counter", "gauge", "histogram", "summary"}

var rowName = regexp.MustCompile("^`(leaselb_[a-z0-9_]+)`$")

// Parse reads the metric tables of docs/metrics.md: every Markdown table
// row whose first cell is a backquoted leaselb_ name, with the columns
// name | type | labels | meaning. Labels are backquoted and comma-separated,
// or "—" / "-" / empty for none. A duplicate name or an unknown type is an
// error that names the line.
func Parse(r io.Reader) (map[string]Metric, error) {
	out := map[string]Metric{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(text, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(text, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		m := rowName.FindStringSubmatch(cells[0])
		if m == nil {
			continue
		}
		if len(cells) < 4 {
			return nil, fmt.Errorf("metricsdoc: line %d: want | name | type | labels | meaning |, got %d cells", line, len(cells))
		}
		typ := strings.ToLower(cells[1])
		if !slices.Contains(Types, typ) {
			return nil, fmt.Errorf("metricsdoc: line %d: %s: type %q is not one of %v", line, m[1], cells[1], Types)
		}
		if _, dup := out[m[1]]; dup {
			return nil, fmt.Errorf("metricsdoc: line %d: %s is documented twice", line, m[1])
		}
		out[m[1]] = Metric{Name: m[1], Type: typ, Labels: parseLabels(cells[2]), Meaning: strings.Join(cells[3:], "|")}
	}
	return out, sc.Err()
}

func parseLabels(cell string) []string {
	var out []string
	for _, l := range strings.Split(cell, ",") {
		l = strings.Trim(strings.TrimSpace(l), "`")
		if l == "" || l == "-" || l == "—" {
			continue
		}
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// ParseScrape reads the "# TYPE name type" lines of a Prometheus text
// exposition (what /metrics serves) and returns the type of every family.
// Only families with at least one series are exposed, so a labelled metric
// that has not been used yet is absent: compare a scrape with the document
// in one direction only (see CompareScrape).
func ParseScrape(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = f[3]
		}
	}
	return out, sc.Err()
}

// CompareScrape checks a scrape (from ParseScrape) against the document:
// every leaselb_ family served must be documented with the same type.
// Families of other prefixes (go_, process_, promhttp_) are ignored. It
// returns one error per mismatch, naming the metric and what to fix.
func CompareScrape(doc map[string]Metric, scraped map[string]string) []error {
	var errs []error
	names := make([]string, 0, len(scraped))
	for n := range scraped {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if !strings.HasPrefix(n, "leaselb_") {
			continue
		}
		d, ok := doc[n]
		if !ok {
			errs = append(errs, fmt.Errorf("metric %s (%s) is served but not documented in docs/metrics.md", n, scraped[n]))
			continue
		}
		if d.Type != scraped[n] {
			errs = append(errs, fmt.Errorf("metric %s is served as a %s but docs/metrics.md says %s", n, scraped[n], d.Type))
		}
	}
	return errs
}
