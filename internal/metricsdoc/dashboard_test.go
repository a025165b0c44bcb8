package metricsdoc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDashboardUsesDocumentedMetrics holds manifests/grafana/leaselb.json
// to docs/metrics.md: a panel that names a metric (or a label) the document
// does not have would show nothing, silently.
func TestDashboardUsesDocumentedMetrics(t *testing.T) {
	doc := readDoc(t)
	f, err := os.Open(filepath.Join(root, "manifests", "grafana", "leaselb.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	qs, err := DashboardQueries(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 10 {
		t.Fatalf("found %d queries in the dashboard: the reader is broken", len(qs))
	}
	for _, q := range qs {
		for _, err := range CheckQuery(doc, q) {
			t.Error(err)
		}
	}
}

func TestCheckQuery(t *testing.T) {
	doc := map[string]Metric{
		"leaselb_held":         {Name: "leaselb_held", Type: "gauge"},
		"leaselb_writes_total": {Name: "leaselb_writes_total", Type: "counter", Labels: []string{"result", "verb"}},
		"leaselb_seconds":      {Name: "leaselb_seconds", Type: "histogram"},
	}
	tests := []struct {
		name   string
		q      Query
		errors []string // substrings, one per error
	}{
		{"documented gauge by instance", Query{Expr: "sum by (instance) (leaselb_held)", Legend: "{{instance}}"}, nil},
		{"documented labels", Query{Expr: `sum by (verb, result) (rate(leaselb_writes_total{result!="ok"}[5m]))`, Legend: "{{verb}} {{ result }}"}, nil},
		{"histogram buckets with le", Query{Expr: "histogram_quantile(0.99, sum by (le) (rate(leaselb_seconds_bucket[5m])))"}, nil},
		{"histogram sum and count", Query{Expr: "rate(leaselb_seconds_sum[5m]) / rate(leaselb_seconds_count[5m])"}, nil},
		{"unknown metric", Query{Panel: "p", Expr: "sum(leaselb_helt)"}, []string{`panel "p": leaselb_helt is not documented`}},
		{"_bucket of a gauge", Query{Expr: "leaselb_held_bucket"}, []string{"leaselb_held_bucket is not documented"}},
		{"le on a gauge", Query{Expr: "sum by (le) (leaselb_held)"}, []string{`label "le"`}},
		{"unknown label in by", Query{Expr: "sum by (reason) (leaselb_writes_total)"}, []string{`label "reason" is not a documented label of leaselb_writes_total`}},
		{"unknown label in a matcher", Query{Expr: `leaselb_writes_total{lease="vip"}`}, []string{`label "lease"`}},
		{"unknown label in the legend", Query{Expr: "leaselb_held", Legend: "{{pool}}"}, []string{`label "pool"`}},
		{"no leaselb metric", Query{Expr: "up"}, []string{"names no leaselb_ metric"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := CheckQuery(doc, tt.q)
			if len(errs) != len(tt.errors) {
				t.Fatalf("errors %v, want %d", errs, len(tt.errors))
			}
			for i, want := range tt.errors {
				if !strings.Contains(errs[i].Error(), want) {
					t.Errorf("error %q, want it to contain %q", errs[i], want)
				}
			}
		})
	}
}

func TestDashboardQueries(t *testing.T) {
	const dash = `{"panels": [
	  {"title": "a", "targets": [{"expr": "leaselb_held", "legendFormat": "{{instance}}"}]},
	  {"type": "row", "title": "r", "panels": [{"title": "nested", "targets": [{"expr": "leaselb_x"}]}]}],
	 "templating": {"list": [
	  {"name": "datasource", "type": "datasource", "query": "prometheus"},
	  {"name": "pool", "type": "query", "query": {"query": "label_values(leaselb_y, pool)"}},
	  {"name": "fam", "type": "query", "query": "label_values(leaselb_z, family)"}]}}`
	qs, err := DashboardQueries(strings.NewReader(dash))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, q := range qs {
		got = append(got, q.Panel+": "+q.Expr)
	}
	want := "a: leaselb_held|nested: leaselb_x|variable pool: label_values(leaselb_y, pool)|variable fam: label_values(leaselb_z, family)"
	if strings.Join(got, "|") != want {
		t.Errorf("got %q\nwant %q", strings.Join(got, "|"), want)
	}
}
