package metricsdoc

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// A Query is one PromQL expression of a Grafana dashboard.
type Query struct {
	// Panel is the title of the panel (or "variable NAME") it belongs to.
	Panel string
	// Expr is the PromQL expression.
	Expr string
	// Legend is the target's legendFormat, whose {{label}}s must exist too.
	Legend string
}

// DashboardQueries reads a Grafana dashboard (JSON model) and returns every
// PromQL expression in it: each panel target's expr, in rows' nested panels
// too, and the templating variables' queries.
func DashboardQueries(r io.Reader) ([]Query, error) {
	type target struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	}
	type panel struct {
		Title   string   `json:"title"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return nil, fmt.Errorf("metricsdoc: dashboard: %w", err)
	}
	var out []Query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out = append(out, Query{Panel: p.Title, Expr: t.Expr, Legend: t.LegendFormat})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue // datasource, interval, custom: no PromQL
		}
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				return nil, fmt.Errorf("metricsdoc: dashboard variable %s: query is neither a string nor {query: ...}", v.Name)
			}
			q = obj.Query
		}
		out = append(out, Query{Panel: "variable " + v.Name, Expr: q})
	}
	return out, nil
}

var (
	metricRef   = regexp.MustCompile(`leaselb_[a-zA-Z0-9_]+`)
	grouping    = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	matchers    = regexp.MustCompile(`leaselb_[a-zA-Z0-9_]+\s*\{([^}]*)\}`)
	matcherName = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
)

// TargetLabels are the labels Prometheus adds to every scraped series; a
// query may group by them whatever the metric.
var TargetLabels = []string{"instance", "job", "namespace", "pod", "node", "container"}

// CheckQuery checks a dashboard query against the document: every leaselb_
// name must be a documented metric (or the _bucket, _sum or _count series of
// a documented histogram or summary), and every label it groups by, matches
// on or shows in the legend must be a documented label of those metrics or
// a target label. It returns one error per problem, naming the panel.
func CheckQuery(doc map[string]Metric, q Query) []error {
	var errs []error
	names := metricRef.FindAllString(q.Expr, -1)
	if len(names) == 0 {
		return []error{fmt.Errorf("panel %q: query %q names no leaselb_ metric", q.Panel, q.Expr)}
	}
	allowed := slices.Clone(TargetLabels)
	for _, n := range names {
		m, ok := doc[n]
		if !ok {
			base, suffix := histogramBase(n)
			if b, found := doc[base]; found && suffix != "" && (b.Type == "histogram" || b.Type == "summary") {
				m, ok = b, true
				if suffix == "_bucket" {
					allowed = append(allowed, "le")
				}
				if b.Type == "summary" {
					allowed = append(allowed, "quantile")
				}
			}
		}
		if !ok {
			errs = append(errs, fmt.Errorf("panel %q: %s is not documented in docs/metrics.md: use a documented metric or document it", q.Panel, n))
			continue
		}
		allowed = append(allowed, m.Labels...)
	}
	var used []string
	for _, g := range grouping.FindAllStringSubmatch(q.Expr, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				used = append(used, l)
			}
		}
	}
	for _, m := range matchers.FindAllStringSubmatch(q.Expr, -1) {
		for _, n := range matcherName.FindAllStringSubmatch(m[1], -1) {
			used = append(used, n[1])
		}
	}
	for _, l := range legendLabel.FindAllStringSubmatch(q.Legend, -1) {
		used = append(used, l[1])
	}
	for _, l := range used {
		if !slices.Contains(allowed, l) {
			errs = append(errs, fmt.Errorf("panel %q: label %q is not a documented label of %s", q.Panel, l, strings.Join(slices.Compact(slices.Sorted(slices.Values(names))), ", ")))
		}
	}
	return errs
}

func histogramBase(name string) (base, suffix string) {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, s); ok {
			return b, s
		}
	}
	return name, ""
}
