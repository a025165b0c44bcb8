package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leaselb/leaselb/e2e/lab"
)

// What `lab bench` reads besides the API server's own metrics: the
// speakers' /metrics (public names only, so the figures survive changes to
// the speaker's internals), an audit log of the speakers' reads, and how
// busy the machine was.

// speakerMetricsPort is the port of the speaker's /metrics (its default
// --metrics-addr).
const speakerMetricsPort = 7474

// speakerMetrics scrapes node's speaker from the client over the management
// network, which stays up when the node's data link is down.
func speakerMetrics(ctx context.Context, l *lab.Lab, node string) ([]sample, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tr := &http.Transport{DialContext: lab.DialerIn(l.Hosts["client"].NS), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	url := "http://" + net.JoinHostPort(l.Hosts[node].Mgmt.String(), strconv.Itoa(speakerMetricsPort)) + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s's speaker: %w", node, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s's speaker: %w", node, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, res.Status)
	}
	return parseMetrics(string(body)), nil
}

// sumMetric adds up the samples of one metric whose labels pass keep (nil:
// all of them).
func sumMetric(samples []sample, name string, keep func(labels map[string]string) bool) float64 {
	var v float64
	for _, s := range samples {
		if s.name == name && (keep == nil || keep(s.labels)) {
			v += s.value
		}
	}
	return v
}

// speakerFigures are one speaker's counters and gauges the benchmark uses.
type speakerFigures struct {
	// probes and probeReplies are the wire check's frames (counters).
	probes, probeReplies float64
	// leaseWrites are the speaker's Lease writes (counter), every kind,
	// verb and result.
	leaseWrites float64
	// held counts the groups whose VIP lease the node holds (gauge).
	held float64
	// answering counts the VIPs it answers for on the wire (gauge).
	answering float64
	// candidate and notCandidate count the groups it is, and is not, a
	// candidate for (gauge; notCandidate sums every other reason).
	candidate, notCandidate float64
	// at is when the scrape returned.
	at time.Time
}

func figuresOf(samples []sample) speakerFigures {
	isCandidate := func(l map[string]string) bool { return l["reason"] == "candidate" }
	return speakerFigures{
		probes:       sumMetric(samples, "leaselb_l2_probes_sent_total", nil),
		probeReplies: sumMetric(samples, "leaselb_l2_probe_replies_total", nil),
		leaseWrites:  sumMetric(samples, "leaselb_election_api_writes_total", nil),
		held:         sumMetric(samples, "leaselb_election_groups_held", nil),
		answering:    sumMetric(samples, "leaselb_l2_answering", nil),
		candidate:    sumMetric(samples, "leaselb_speaker_candidacy_groups", isCandidate),
		notCandidate: sumMetric(samples, "leaselb_speaker_candidacy_groups", func(l map[string]string) bool { return !isCandidate(l) }),
	}
}

// speakersNow scrapes the speakers of nodes, by node. A scrape that fails
// is tried again a few times: on a loaded machine one can time out, and
// that alone should not end the benchmark.
func speakersNow(ctx context.Context, l *lab.Lab, nodes []string) (map[string]speakerFigures, error) {
	m := map[string]speakerFigures{}
	for _, n := range nodes {
		var s []sample
		var err error
		for try := 0; try < 3; try++ {
			if s, err = speakerMetrics(ctx, l, n); err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			return nil, err
		}
		f := figuresOf(s)
		f.at = time.Now()
		m[n] = f
	}
	return m, nil
}

// probesBetween sums the wire check's frames the speakers sent and heard
// between two scrapes (nodes missing from either are left out: a restarted
// speaker starts from zero).
func probesBetween(before, after map[string]speakerFigures) (sent, replies float64) {
	for n, a := range after {
		if b, ok := before[n]; ok {
			sent += a.probes - b.probes
			replies += a.probeReplies - b.probeReplies
		}
	}
	return sent, replies
}

// waitCandidates waits until every speaker is a candidate for every group it
// knows (no link in its hold-down, caches synced, nothing excluded), so a
// run starts with all three nodes able to take over.
func waitCandidates(ctx context.Context, l *lab.Lab) error {
	return lab.Eventually(ctx, 3*time.Minute, 200*time.Millisecond, func() (bool, string) {
		for _, n := range l.Nodes {
			s, err := speakerMetrics(ctx, l, n.Name)
			if err != nil {
				return false, err.Error()
			}
			if f := figuresOf(s); f.candidate == 0 || f.notCandidate > 0 {
				return false, fmt.Sprintf("%s's speaker is a candidate for %.0f groups and not for %.0f", n.Name, f.candidate, f.notCandidate)
			}
		}
		return true, ""
	})
}

// nodeNames lists the lab's nodes but except.
func nodeNames(l *lab.Lab, except string) []string {
	var out []string
	for _, n := range l.Nodes {
		if n.Name != except {
			out = append(out, n.Name)
		}
	}
	return out
}

// speakerUser is the user the speakers' token authenticates as.
const speakerUser = "system:serviceaccount:" + lab.Namespace + ":speaker"

// speakerAudit has the API server log every read (get, list) and watch the
// speakers make, so "no polling reads" is counted per client, not guessed
// from the API server's totals (which hold its own lease reads and the
// benchmark's). Watches are logged only to show that the log works: with
// streaming lists an informer needs no LIST at all, so a log without reads
// is not evidence by itself.
type speakerAudit struct{ dir string }

func newSpeakerAudit() (*speakerAudit, error) {
	dir, err := os.MkdirTemp("", "leaselb-bench-audit-")
	if err != nil {
		return nil, err
	}
	policy := `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  users: ["` + speakerUser + `"]
  verbs: ["get", "list", "watch"]
- level: None
`
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(policy), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &speakerAudit{dir: dir}, nil
}

// apiServerArgs are the flags that turn the log on.
func (a *speakerAudit) apiServerArgs() []string {
	return []string{
		"--audit-policy-file=" + filepath.Join(a.dir, "policy.yaml"),
		"--audit-log-path=" + filepath.Join(a.dir, "audit.log"),
		"--audit-log-format=json",
		"--audit-log-mode=blocking",
		"--audit-log-maxbackup=0",
	}
}

func (a *speakerAudit) remove() { _ = os.RemoveAll(a.dir) }

// reads counts the speakers' reads (get, list) completed in [from, to), by
// resource, and all the speakers' requests in the log (watches too).
func (a *speakerAudit) reads(from, to time.Time) (reads map[string]float64, logged int, err error) {
	f, err := os.Open(filepath.Join(a.dir, "audit.log"))
	if os.IsNotExist(err) {
		return map[string]float64{}, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	reads = map[string]float64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e struct {
			Stage     string `json:"stage"`
			Verb      string `json:"verb"`
			User      struct{ Username string }
			ObjectRef struct{ Resource string }
			StageTime time.Time `json:"stageTimestamp"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.User.Username != speakerUser {
			continue
		}
		logged++
		if e.Stage == "ResponseComplete" && (e.Verb == "get" || e.Verb == "list") && !e.StageTime.Before(from) && e.StageTime.Before(to) {
			reads[e.ObjectRef.Resource]++
		}
	}
	return reads, logged, sc.Err()
}

// machineLoad follows the machine while the benchmark runs: the lab shares
// it with whatever else runs (other labs, builds), and figures taken while
// every core was busy say more about the machine than about leaselb.
type machineLoad struct {
	mu sync.Mutex
	// peak is the highest 1-minute load average seen.
	peak float64
	// others are the prefixes of network namespaces not ours (other labs).
	others map[string]bool
}

// watchLoad samples /proc/loadavg and /run/netns every few seconds until
// ctx is done.
func watchLoad(ctx context.Context, ours string) *machineLoad {
	m := &machineLoad{others: map[string]bool{}}
	go func() {
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		for {
			m.sample(ours)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *machineLoad) sample(ours string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				m.peak = max(m.peak, v)
			}
		}
	}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if prefix, _, ok := strings.Cut(e.Name(), "-"); ok && prefix+"-" != ours {
			m.others[prefix+"-"] = true
		}
	}
}

// describe says how busy the machine was, for the report.
func (m *machineLoad) describe() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	cores := runtime.NumCPU()
	s := fmt.Sprintf("Machine: %d cores; 1-minute load average up to %.1f during the run", cores, m.peak)
	if len(m.others) > 0 {
		s += fmt.Sprintf("; other labs running beside it (network namespaces %s*)", strings.Join(slices.Sorted(maps.Keys(m.others)), "*, "))
	}
	s += "."
	if m.peak > 1.5*float64(cores) {
		s += " **The machine was overloaded for part of the run: read the figures as what leaselb does on an overloaded machine, not as its speed.**"
	}
	return s
}
