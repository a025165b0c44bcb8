package main

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// nearestRank returns the p-th percentile (0 < p <= 1) of ds by nearest
// rank, and 0 for no samples. ds need not be sorted.
func nearestRank(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// spread is the minimum, median (lower middle for an even count) and
// maximum of counts; nodes holding nothing must be in counts as zeros.
func spread(counts []int) (lo, median, hi int) {
	if len(counts) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(counts)
	slices.Sort(s)
	return s[0], s[(len(s)-1)/2], s[len(s)-1]
}

// nthAddr returns the address n after base (base itself for n = 0), and
// false when that leaves base's family.
func nthAddr(base netip.Addr, n uint64) (netip.Addr, bool) {
	b := base.As16()
	carry := n
	for i := 15; i >= 0 && carry > 0; i-- {
		sum := uint64(b[i]) + carry&0xff
		b[i] = byte(sum)
		carry = carry>>8 + sum>>8
	}
	if carry > 0 {
		return netip.Addr{}, false
	}
	a := netip.AddrFrom16(b)
	if base.Is4() {
		if !a.Is4In6() {
			return netip.Addr{}, false
		}
		a = a.Unmap()
	}
	return a, true
}

// A sample is one line of the Prometheus text format: a metric name, its
// labels and its value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseMetrics reads the samples of the Prometheus text format, skipping
// comments and lines it cannot read. Label values may hold escaped quotes.
func parseMetrics(text string) []sample {
	var out []sample
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(rest, "{ "); i < 0 {
			continue
		} else {
			s.name, rest = rest[:i], rest[i:]
		}
		if strings.HasPrefix(rest, "{") {
			var ok bool
			if rest, ok = parseLabels(rest[1:], s.labels); !ok {
				continue
			}
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		s.value = v
		out = append(out, s)
	}
	return out
}

// parseLabels reads `a="x",b="y"}` into m and returns what follows the brace.
func parseLabels(rest string, m map[string]string) (string, bool) {
	for {
		rest = strings.TrimLeft(rest, " ,")
		if strings.HasPrefix(rest, "}") {
			return rest[1:], true
		}
		eq := strings.Index(rest, `="`)
		if eq < 0 {
			return "", false
		}
		key := rest[:eq]
		rest = rest[eq+2:]
		var val strings.Builder
		i := 0
		for ; i < len(rest) && rest[i] != '"'; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
				switch rest[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(rest[i])
				}
				continue
			}
			val.WriteByte(rest[i])
		}
		if i == len(rest) {
			return "", false
		}
		m[key] = val.String()
		rest = rest[i+1:]
	}
}

// apiCounts are the API server's request and watch counters at one moment.
type apiCounts struct {
	// writes and reads by resource; reads are GET and LIST (polling), not
	// WATCH.
	writes, reads map[string]float64
	// throttled counts answers 429 (APF or max-inflight rejections).
	throttled float64
	// watchEvents counts events sent to watchers, by kind.
	watchEvents map[string]float64
}

var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true, "APPLY": true, "DELETECOLLECTION": true}

// countAPI sums apiserver_request_total (dry runs left out) and
// apiserver_watch_events_total.
func countAPI(samples []sample) apiCounts {
	c := apiCounts{writes: map[string]float64{}, reads: map[string]float64{}, watchEvents: map[string]float64{}}
	for _, s := range samples {
		switch s.name {
		case "apiserver_request_total":
			if s.labels["dry_run"] != "" {
				continue
			}
			res := s.labels["resource"]
			if sub := s.labels["subresource"]; sub != "" {
				res += "/" + sub
			}
			switch v := s.labels["verb"]; {
			case writeVerbs[v]:
				c.writes[res] += s.value
			case v == "GET" || v == "LIST":
				c.reads[res] += s.value
			}
			if s.labels["code"] == "429" {
				c.throttled += s.value
			}
		case "apiserver_watch_events_total":
			key := s.labels["resource"] // "kind" in older API servers
			if key == "" {
				key = s.labels["kind"]
			}
			c.watchEvents[key] += s.value
		}
	}
	return c
}

// sub returns c minus an earlier count.
func (c apiCounts) sub(earlier apiCounts) apiCounts {
	d := apiCounts{writes: map[string]float64{}, reads: map[string]float64{}, watchEvents: map[string]float64{},
		throttled: c.throttled - earlier.throttled}
	for _, p := range []struct{ now, then, out map[string]float64 }{
		{c.writes, earlier.writes, d.writes}, {c.reads, earlier.reads, d.reads}, {c.watchEvents, earlier.watchEvents, d.watchEvents},
	} {
		for k, v := range p.now {
			if dv := v - p.then[k]; dv != 0 {
				p.out[k] = dv
			}
		}
	}
	return d
}

func total(m map[string]float64) float64 {
	var t float64
	for _, v := range m {
		t += v
	}
	return t
}

// topKeys renders the n largest entries of m per second over secs, e.g.
// "leases 201.3, events 1.2".
func topKeys(m map[string]float64, secs float64, n int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range keys[:min(n, len(keys))] {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, m[k]/secs))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// procStat parses /proc/<pid>/stat: user+system CPU seconds (USER_HZ 100).
func procStat(data string) (cpuSeconds float64, ok bool) {
	i := strings.LastIndexByte(data, ')')
	if i < 0 || i+2 > len(data) {
		return 0, false
	}
	f := strings.Fields(data[i+2:])
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (ut + st) / 100, true
}

// procRSS parses VmRSS from /proc/<pid>/status, in MiB.
func procRSS(data string) (mib float64, ok bool) {
	for _, line := range strings.Split(data, "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) < 2 {
				return 0, false
			}
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}

// parseRequestCounts reads a scalespeaker's request counts ("kind count"
// lines).
func parseRequestCounts(text string) (map[string]int, error) {
	m := map[string]int{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("request counts: bad line %q", line)
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			return nil, fmt.Errorf("request counts: bad line %q", line)
		}
		m[f[0]] = n
	}
	return m, nil
}
