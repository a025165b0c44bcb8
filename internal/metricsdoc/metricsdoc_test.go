package metricsdoc

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const root = "../.."

func readDoc(t *testing.T) map[string]Metric {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestDocMatchesSource holds docs/metrics.md to the metrics the code
// constructs: the same names, types and labels, both ways.
func TestDocMatchesSource(t *testing.T) {
	doc := readDoc(t)
	src, err := scanSource(root)
	if err != nil {
		t.Fatalf("scanning the source for metrics: %v", err)
	}
	if len(src) == 0 {
		t.Fatal("found no metrics in the source: the scanner is broken")
	}
	seen := map[string]bool{}
	for _, m := range src {
		if !strings.HasPrefix(m.Name, "leaselb_") {
			t.Errorf("%s: metric %s lacks the leaselb_ prefix", m.Pos, m.Name)
		}
		seen[m.Name] = true
		d, ok := doc[m.Name]
		if !ok {
			t.Errorf("%s: %s %s{%s} is not documented in docs/metrics.md: add a row (name | type | labels | meaning)", m.Pos, m.Type, m.Name, strings.Join(m.Labels, ","))
			continue
		}
		if d.Type != m.Type {
			t.Errorf("%s: %s is a %s, docs/metrics.md says %s", m.Pos, m.Name, m.Type, d.Type)
		}
		if !slices.Equal(d.Labels, m.Labels) {
			t.Errorf("%s: %s has labels %v, docs/metrics.md says %v", m.Pos, m.Name, m.Labels, d.Labels)
		}
		for _, l := range m.Labels {
			if l == "ip" || l == "service" || l == "group" || l == "vip" {
				t.Errorf("%s: %s has label %q, whose values grow with the cluster", m.Pos, m.Name, l)
			}
		}
	}
	for name := range doc {
		if !seen[name] {
			t.Errorf("docs/metrics.md documents %s, which no code constructs: remove the row or fix the name", name)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    map[string]Metric
		wantErr string
	}{
		{"table", "| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n| `leaselb_a_total` | counter | `reason`, `family` | A. |\n| `leaselb_b` | Gauge | — | B. |\n",
			map[string]Metric{
				"leaselb_a_total": {Name: "leaselb_a_total", Type: "counter", Labels: []string{"family", "reason"}, Meaning: "A."},
				"leaselb_b":       {Name: "leaselb_b", Type: "gauge", Meaning: "B."},
			}, ""},
		{"prose and other tables are ignored", "text `leaselb_x`\n| `go_goroutines` | gauge | | |\n", map[string]Metric{}, ""},
		{"bad type", "| `leaselb_a` | meter | | x |\n", nil, "line 1: leaselb_a: type"},
		{"duplicate", "| `leaselb_a` | gauge | | x |\n| `leaselb_a` | gauge | | y |\n", nil, "documented twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.text))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for n, w := range tt.want {
				g := got[n]
				if g.Type != w.Type || !slices.Equal(g.Labels, w.Labels) || g.Meaning != w.Meaning {
					t.Errorf("%s: got %+v, want %+v", n, g, w)
				}
			}
		})
	}
}

func TestCompareScrape(t *testing.T) {
	doc := map[string]Metric{
		"leaselb_a_total": {Name: "leaselb_a_total", Type: "counter"},
		"leaselb_b":       {Name: "leaselb_b", Type: "gauge"},
	}
	scrape := "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 7\n" +
		"# HELP leaselb_a_total a\n# TYPE leaselb_a_total counter\nleaselb_a_total{reason=\"x\"} 1\n" +
		"# TYPE leaselb_b counter\nleaselb_b 1\n" +
		"# TYPE leaselb_c_seconds histogram\nleaselb_c_seconds_bucket{le=\"+Inf\"} 1\n"
	got, err := ParseScrape(strings.NewReader(scrape))
	if err != nil {
		t.Fatal(err)
	}
	errs := CompareScrape(doc, got)
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	want := []string{
		"metric leaselb_b is served as a counter but docs/metrics.md says gauge",
		"metric leaselb_c_seconds (histogram) is served but not documented in docs/metrics.md",
	}
	if !slices.Equal(msgs, want) {
		t.Errorf("got %q, want %q", msgs, want)
	}
}

// TestScannerFindsEveryStyle runs the scanner over the real tree and checks
// it saw the registration styles in use (literal names, a helper closure
// with Namespace/Subsystem, label variables), so a scanner regression
// cannot make TestDocMatchesSource pass vacuously.
func TestScannerFindsEveryStyle(t *testing.T) {
	src, err := scanSource(root)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]srcMetric{}
	for _, m := range src {
		byName[m.Name] = m
	}
	for name, labels := range map[string][]string{
		"leaselb_allocator_addresses_total":  {"family", "pool"},
		"leaselb_l2_requests_received_total": {"family", "interface"},
		"leaselb_l2_socket_errors_total":     {"interface"},
		"leaselb_l2_answering":               {"family", "interface"},
	} {
		m, ok := byName[name]
		if !ok {
			t.Errorf("scanner missed %s", name)
			continue
		}
		if !slices.Equal(m.Labels, labels) {
			t.Errorf("%s: labels %v, want %v", name, m.Labels, labels)
		}
	}
}
