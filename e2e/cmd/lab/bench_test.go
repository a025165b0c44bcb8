package main

import (
	"errors"
	"testing"
	"time"

	"github.com/leaselb/leaselb/e2e/lab"
)

const speakerMetricsText = `# HELP leaselb_l2_probes_sent_total Wire-check probes sent.
# TYPE leaselb_l2_probes_sent_total counter
leaselb_l2_probes_sent_total{family="ipv4",interface="eth0"} 8
leaselb_l2_probes_sent_total{family="ipv6",interface="eth0"} 2
leaselb_l2_probe_replies_total{family="ipv4",interface="eth0"} 1
leaselb_election_api_writes_total{lease="node",result="ok",verb="update"} 120
leaselb_election_api_writes_total{lease="vip",result="conflict",verb="update"} 3
leaselb_election_groups_held 5
leaselb_l2_answering{family="ipv4",interface="eth0"} 4
leaselb_l2_answering{family="ipv6",interface="eth0"} 1
leaselb_speaker_candidacy_groups{reason="candidate"} 9
leaselb_speaker_candidacy_groups{reason="noInterface"} 1
leaselb_speaker_candidacy_groups{reason="nodeExcluded"} 0
`

func TestFiguresOf(t *testing.T) {
	got := figuresOf(parseMetrics(speakerMetricsText))
	want := speakerFigures{probes: 10, probeReplies: 1, leaseWrites: 123, held: 5, answering: 5, candidate: 9, notCandidate: 1}
	if got != want {
		t.Errorf("figuresOf = %+v, want %+v", got, want)
	}
}

func TestProbesBetween(t *testing.T) {
	before := map[string]speakerFigures{"node-a": {probes: 4, probeReplies: 1}, "node-b": {probes: 0}}
	// node-c was restarted (not in before): its counters started from zero
	// and are left out.
	after := map[string]speakerFigures{"node-a": {probes: 12, probeReplies: 1}, "node-b": {probes: 2, probeReplies: 2}, "node-c": {probes: 50}}
	sent, replies := probesBetween(before, after)
	if sent != 10 || replies != 2 {
		t.Errorf("probesBetween = %v sent, %v replies, want 10, 2", sent, replies)
	}
}

func TestMovedEarly(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	failedAt := at(500)
	for _, tc := range []struct {
		name    string
		samples []lab.Sample
		want    string
	}{
		{"old answered until the failure", []lab.Sample{
			{At: at(0), Done: at(5), From: "node-a"},
			{At: at(450), Done: at(455), From: "node-a"},
			{At: at(1600), Done: at(1610), From: "node-b"},
		}, ""},
		{"a request in flight at the failure, answered by the successor after it", []lab.Sample{
			{At: at(450), Done: at(1500), From: "node-b"},
		}, ""},
		{"failed requests say nothing", []lab.Sample{
			{At: at(100), Done: at(200), Err: errors.New("refused")},
		}, ""},
		{"another node answered before the failure", []lab.Sample{
			{At: at(0), Done: at(5), From: "node-a"},
			{At: at(300), Done: at(310), From: "node-c"},
		}, "node-c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, moved := movedEarly(tc.samples, failedAt, "node-a")
			if got != tc.want || moved != (tc.want != "") {
				t.Errorf("movedEarly = %q, %v; want %q", got, moved, tc.want)
			}
		})
	}
}

func TestGoalAndRatio(t *testing.T) {
	ds := []time.Duration{900 * time.Millisecond, 1100 * time.Millisecond, 1400 * time.Millisecond}
	if got := goal(ds, 0.5, time.Second); got != "p50 ≤ 1.00 s: **missed**" {
		t.Errorf("goal p50 = %q", got)
	}
	if got := goal(ds, 0.99, 1500*time.Millisecond); got != "p99 ≤ 1.50 s: met" {
		t.Errorf("goal p99 = %q", got)
	}
	if got := goal(nil, 0.5, time.Second); got != "p50 ≤ 1.00 s: not measured" {
		t.Errorf("goal of nothing = %q", got)
	}
	off := []time.Duration{2200 * time.Millisecond, 2000 * time.Millisecond}
	if got := ratio(ds, off, 0.5); got != "0.55×" {
		t.Errorf("ratio = %q, want 0.55×", got)
	}
	if got := ratio(ds, nil, 0.5); got != "–" {
		t.Errorf("ratio without a reference = %q", got)
	}
}
