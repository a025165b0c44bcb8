package speaker

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/leaselb/leaselb/election"
	"github.com/leaselb/leaselb/l2"
)

type fakeWireElector struct {
	mu       sync.Mutex
	suspects []election.Suspect
	silent   map[string]time.Time
	host     map[string]bool
	alive    []string
}

func (f *fakeWireElector) Suspects() []election.Suspect {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.suspects
}
func (f *fakeWireElector) WireSilent(node string, since time.Time, host bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.silent[node], f.host[node] = since, host
}
func (f *fakeWireElector) WireAlive(node string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alive = append(f.alive, node)
}

type fakeWireProber struct {
	probes  chan []l2.ProbeTarget
	results chan l2.ProbeResult
}

func (f *fakeWireProber) Probe(t []l2.ProbeTarget)            { f.probes <- t }
func (f *fakeWireProber) ProbeResults() <-chan l2.ProbeResult { return f.results }

// TestWireCheckWiring: suspects become one probe target per holder, on the
// group's published address and interfaces; answers and silences go back
// to the election (with whether the node's address was silent too);
// stopping stops probing.
func TestWireCheckWiring(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 0xbb}
	node2 := []netip.Addr{netip.MustParseAddr("192.0.2.2")}
	el := &fakeWireElector{silent: map[string]time.Time{}, host: map[string]bool{}, suspects: []election.Suspect{
		{Node: "n2", Group: "vip-192.0.2.10", MACs: []net.HardwareAddr{mac}, Addrs: node2},
		{Node: "n2", Group: "vip-192.0.2.11", MACs: []net.HardwareAddr{mac}, Addrs: node2},
		{Node: "n3", Group: "vip-192.0.2.12"},                                // lists no MAC: nothing to probe
		{Node: "n4", Group: "vip-192.0.2.99", MACs: []net.HardwareAddr{mac}}, // unknown group
	}}
	pr := &fakeWireProber{probes: make(chan []l2.ProbeTarget, 1), results: make(chan l2.ProbeResult)}
	w := &wireCheck{el: el, pr: pr, log: zap.NewNop()}
	l := newLoop(loopConfig{node: "n1"}, nil, nil, sources{})
	ip := netip.MustParseAddr("192.0.2.10")
	l.groups["vip-192.0.2.10"] = &groupState{group: Group{Name: "vip-192.0.2.10", IPs: []netip.Addr{ip}},
		decision: Decision{Candidate: true, IPs: []netip.Addr{ip}, Interfaces: map[netip.Addr][]string{ip: {"eth1"}}}}
	w.publish(l)

	ctx, cancel := context.WithCancel(context.Background())
	tick := make(chan time.Time)
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx, tick) }()
	tick <- time.Now()
	got := <-pr.probes
	if len(got) != 1 || got[0].Node != "n2" || got[0].IP != ip || len(got[0].MACs) != 1 || len(got[0].Interfaces) != 1 || got[0].Interfaces[0] != "eth1" ||
		len(got[0].Addrs) != 1 || got[0].Addrs[0] != node2[0] {
		t.Fatalf("targets %+v, want n2 on 192.0.2.10 and its node address 192.0.2.2 via eth1 only", got)
	}
	since := time.Unix(1_700_000_000, 0)
	pr.results <- l2.ProbeResult{Node: "n2", Alive: true}
	pr.results <- l2.ProbeResult{Node: "n2", SilentSince: since, HostSilent: true}
	tick <- time.Now() // the results before it were handled
	<-pr.probes
	el.mu.Lock()
	if len(el.alive) != 1 || el.alive[0] != "n2" || !el.silent["n2"].Equal(since) || !el.host["n2"] {
		t.Errorf("election told alive %v, silent %v (host %v); want n2 alive, then silent since %v, its node address too", el.alive, el.silent, el.host, since)
	}
	el.mu.Unlock()
	cancel()
	if last := <-pr.probes; last != nil {
		t.Errorf("on stop, probing %+v, want nothing", last)
	}
	<-done
}
