package speaker

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/leaselb/leaselb/election"
	"github.com/leaselb/leaselb/l2"
)

// The wire check's wiring (docs/election.md, "The wire check"): every probe
// interval, the election's suspects (holders that missed a node-lease
// renewal, of groups this node is the top-ranked successor for) become the
// announcer's probe targets, and what the wire answers goes back to the
// election. Nothing here decides anything: the election's core does.

// wireElector is what the wire check needs of election.Elector.
type wireElector interface {
	Suspects() []election.Suspect
	WireSilent(node string, since time.Time, host bool)
	WireAlive(node string)
}

// wireProber is what the wire check needs of l2.Announcer.
type wireProber interface {
	Probe(targets []l2.ProbeTarget)
	ProbeResults() <-chan l2.ProbeResult
}

var (
	_ wireElector = (*election.Elector)(nil)
	_ wireProber  = (*l2.Announcer)(nil)
)

// probeAddr is where a group is probed: one of its IPs (the lowest, IPv4
// first) and the interfaces the advertisements give it.
type probeAddr struct {
	ip     netip.Addr
	ifaces []string
}

// wireCheck runs the wire check. The loop's goroutine publishes, after
// every recompute, where each group would be probed (publish); run, on its
// own goroutine, reads that snapshot.
type wireCheck struct {
	el    wireElector
	pr    wireProber
	log   *zap.Logger
	every time.Duration
	addrs atomic.Pointer[map[string]probeAddr]
}

// publish records where each group of l is probed. It runs on the loop's
// goroutine, which owns l.groups.
func (w *wireCheck) publish(l *loop) {
	m := make(map[string]probeAddr, len(l.groups))
	for name, g := range l.groups {
		ips := g.decision.IPs
		if len(ips) == 0 {
			ips = g.group.IPs
		}
		if len(ips) == 0 {
			continue
		}
		m[name] = probeAddr{ip: ips[0], ifaces: g.decision.Interfaces[ips[0]]}
	}
	w.addrs.Store(&m)
}

// targets turns the election's suspects into probe targets: one per
// holder, probed on the first of its suspect groups that has an address
// and MACs.
func (w *wireCheck) targets(suspects []election.Suspect) []l2.ProbeTarget {
	addrs := w.addrs.Load()
	if addrs == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []l2.ProbeTarget
	for _, s := range suspects {
		a, ok := (*addrs)[s.Group]
		if seen[s.Node] || !ok || len(s.MACs) == 0 {
			continue
		}
		seen[s.Node] = true
		out = append(out, l2.ProbeTarget{Node: s.Node, IP: a.ip, MACs: s.MACs, Interfaces: a.ifaces, Addrs: s.Addrs})
	}
	return out
}

// run probes the suspects every interval and reports the results until ctx
// is done; then it stops probing.
func (w *wireCheck) run(ctx context.Context, tick <-chan time.Time) {
	results := w.pr.ProbeResults()
	defer w.pr.Probe(nil)
	probing := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			ts := w.targets(w.el.Suspects())
			now := map[string]bool{}
			for _, t := range ts {
				now[t.Node] = true
				if !probing[t.Node] {
					w.log.Debug("probing a holder that missed a node-lease renewal", zap.String("node", t.Node), zap.String("ip", t.IP.String()))
				}
			}
			probing = now
			w.pr.Probe(ts)
		case r, ok := <-results:
			if !ok {
				return
			}
			if r.Alive {
				w.el.WireAlive(r.Node)
				continue
			}
			w.log.Info("holder silent on the wire after missing a node-lease renewal",
				zap.String("node", r.Node), zap.Time("since", r.SilentSince), zap.Bool("nodeAddressSilent", r.HostSilent))
			w.el.WireSilent(r.Node, r.SilentSince, r.HostSilent)
		}
	}
}
