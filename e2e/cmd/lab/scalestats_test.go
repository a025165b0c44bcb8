package main

import (
	"net/netip"
	"testing"
	"time"
)

func TestNearestRank(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of four is the second", ms(40, 10, 30, 20), 0.5, 20 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(func() []int {
			v := make([]int, 100)
			for i := range v {
				v[i] = 100 - i
			}
			return v
		}()...), 0.99, 99 * time.Millisecond},
		{"max", ms(3, 1, 2), 1, 3 * time.Millisecond},
		{"tiny p is the min", ms(3, 1, 2), 0.001, 1 * time.Millisecond},
	} {
		if got := nearestRank(tc.ds, tc.p); got != tc.want {
			t.Errorf("%s: nearestRank(%v, %v) = %v, want %v", tc.name, tc.ds, tc.p, got, tc.want)
		}
	}
}

func TestSpread(t *testing.T) {
	for _, tc := range []struct {
		counts          []int
		lo, median, max int
	}{
		{nil, 0, 0, 0},
		{[]int{5}, 5, 5, 5},
		{[]int{50, 0, 49, 52}, 0, 49, 52},
		{[]int{3, 1, 2}, 1, 2, 3},
	} {
		lo, med, hi := spread(tc.counts)
		if lo != tc.lo || med != tc.median || hi != tc.max {
			t.Errorf("spread(%v) = %d/%d/%d, want %d/%d/%d", tc.counts, lo, med, hi, tc.lo, tc.median, tc.max)
		}
	}
}

func TestNthAddr(t *testing.T) {
	for _, tc := range []struct {
		base string
		n    uint64
		want string // "" = out of the family
	}{
		{"2001:db8::5:0", 0, "2001:db8::5:0"},
		{"2001:db8::5:0", 4999, "2001:db8::5:1387"},
		{"2001:db8::5:ffff", 1, "2001:db8::6:0"},
		{"2001:db8::ffff:ffff:ffff:ffff", 1, "2001:db8:0:1::"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, ""},
		{"192.0.2.250", 5, "192.0.2.255"},
		{"192.0.2.255", 1, "192.0.3.0"},
		{"255.255.255.255", 1, ""},
	} {
		got, ok := nthAddr(netip.MustParseAddr(tc.base), tc.n)
		if tc.want == "" {
			if ok {
				t.Errorf("nthAddr(%s, %d) = %s, want out of range", tc.base, tc.n, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tc.want) {
			t.Errorf("nthAddr(%s, %d) = %s %v, want %s", tc.base, tc.n, got, ok, tc.want)
		}
	}
}

const metricsText = `# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 1200
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="events",scope="resource",subresource="",verb="POST",version="v1"} 30
apiserver_request_total{code="200",component="apiserver",dry_run="All",group="",resource="services",scope="resource",subresource="",verb="POST",version="v1"} 99
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="services",scope="resource",subresource="status",verb="PUT",version="v1"} 5
apiserver_request_total{code="429",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="services",scope="cluster",subresource="",verb="LIST",version="v1"} 100
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="leases",scope="resource",subresource="",verb="GET",version="v1"} 2
apiserver_request_total{code="0",component="apiserver",dry_run="",group="",resource="leases",scope="namespace",subresource="",verb="WATCH",version="v1"} 101
apiserver_watch_events_total{group="coordination.k8s.io",resource="leases",version="v1"} 5e+06
apiserver_watch_events_total{group="",kind="Service",version="v1"} 10
weird_metric{a="x\"y",b="z"} 1.5
broken{a="x" 
`

func TestParseMetrics(t *testing.T) {
	s := parseMetrics(metricsText)
	if len(s) != 11 {
		t.Fatalf("parsed %d samples, want 11 (the broken line skipped): %+v", len(s), s)
	}
	last := s[10]
	if last.name != "weird_metric" || last.labels["a"] != `x"y` || last.labels["b"] != "z" || last.value != 1.5 {
		t.Errorf("escaped label: got %+v", last)
	}
}

func TestCountAPI(t *testing.T) {
	c := countAPI(parseMetrics(metricsText))
	if got := c.writes["leases"]; got != 1203 {
		t.Errorf("lease writes = %v, want 1203 (200s and 429s)", got)
	}
	if got := c.writes["services/status"]; got != 5 {
		t.Errorf("services/status writes = %v, want 5", got)
	}
	if got := total(c.writes); got != 1238 {
		t.Errorf("all writes = %v, want 1238 (dry run left out)", got)
	}
	if got := total(c.reads); got != 102 {
		t.Errorf("reads = %v, want 102 (GET and LIST, not WATCH)", got)
	}
	if c.throttled != 3 {
		t.Errorf("throttled = %v, want 3", c.throttled)
	}
	if got := c.watchEvents["leases"]; got != 5e6 {
		t.Errorf("Lease watch events = %v, want 5e6", got)
	}
	later := countAPI(parseMetrics(metricsText))
	later.writes["leases"] += 100
	d := later.sub(c)
	if len(d.writes) != 1 || d.writes["leases"] != 100 || len(d.reads) != 0 {
		t.Errorf("sub = %+v, want only 100 lease writes", d)
	}
	if got := topKeys(map[string]float64{"leases": 200, "events": 10, "nodes": 10}, 10, 2); got != "leases 20.0, events 1.0" {
		t.Errorf("topKeys = %q", got)
	}
}

func TestProcFiles(t *testing.T) {
	stat := "1234 (scale speaker) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 800000000 9000 18446744073709551615"
	if cpu, ok := procStat(stat); !ok || cpu != 3 {
		t.Errorf("procStat = %v %v, want 3 s (250+50 ticks)", cpu, ok)
	}
	if _, ok := procStat("1234 (x) S 1"); ok {
		t.Error("procStat of a short line: ok, want not ok")
	}
	status := "Name:\tscalespeaker\nVmPeak:\t  900000 kB\nVmRSS:\t   51200 kB\nThreads:\t12\n"
	if rss, ok := procRSS(status); !ok || rss != 50 {
		t.Errorf("procRSS = %v %v, want 50 MiB", rss, ok)
	}
	if _, ok := procRSS("Name:\tx\n"); ok {
		t.Error("procRSS without VmRSS: ok, want not ok")
	}
}

func TestParseRequestCounts(t *testing.T) {
	m, err := parseRequestCounts("read 3\nwatch 12\nwrite 400\n")
	if err != nil || m["read"] != 3 || m["watch"] != 12 || m["write"] != 400 {
		t.Errorf("parseRequestCounts = %v %v", m, err)
	}
	for _, bad := range []string{"read\n", "read x\n", "read 1 2\n"} {
		if _, err := parseRequestCounts(bad); err == nil {
			t.Errorf("parseRequestCounts(%q): no error", bad)
		}
	}
}
