package election

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// planRig is one node's election core in the steady state of a large
// cluster: every node lease renewing, every group held by its top-ranked
// node, this node holding its share. It feeds the core what the informer
// and the writes would, on a fake clock, with no API server.
type planRig struct {
	c     *core
	now   time.Time
	nodes []string
	rv    int
}

func newPlanRig(tb testing.TB, nodes, groups int) *planRig {
	tb.Helper()
	r := &planRig{now: t0}
	for i := range nodes {
		r.nodes = append(r.nodes, fmt.Sprintf("node-%03d", i))
	}
	r.c = newCore(r.nodes[0], Timing{}.WithDefaults())
	r.c.wireCheck = true
	r.c.markSynced(r.now)
	specs := make([]GroupSpec, groups)
	for i := range specs {
		name := fmt.Sprintf("vip-10.%d.%d.%d", i/65536, i/256%256, i%256)
		specs[i] = GroupSpec{Name: name, Candidate: true, Candidates: r.nodes,
			Annotations: map[string]string{"leaselb.io/services": "default/svc-" + strconv.Itoa(i)}}
	}
	for _, n := range r.nodes[1:] {
		r.c.observeNode(n, &leaseView{rv: r.nextRV(), holder: n}, r.now)
	}
	for _, s := range specs {
		top := r.nodes[0]
		for _, n := range r.nodes[1:] {
			if score(n, s.Name) > score(top, s.Name) {
				top = n
			}
		}
		r.c.observeVIP(s.Name, &leaseView{rv: r.nextRV(), holder: top, annotations: s.Annotations}, r.now)
	}
	r.c.setGroups(specs)
	// Renew, see the echo, adopt our groups.
	for range 20 {
		r.step(time.Millisecond)
	}
	return r
}

func (r *planRig) nextRV() string { r.rv++; return strconv.Itoa(r.rv) }

// step advances the clock by d, plans, and completes every planned write at
// once, delivering its echo through the watch.
func (r *planRig) step(d time.Duration) int {
	r.now = r.now.Add(d)
	ws, _ := r.c.plan(r.now)
	for _, w := range ws {
		rv := r.nextRV()
		r.c.done(w, outcomeOK, rv, r.now)
		switch w.kind {
		case writeRenew:
			r.c.observeNode(r.c.node, &leaseView{rv: rv, holder: r.c.node}, r.now)
		case writeDelete, writeDeleteNode:
		default:
			r.c.observeVIP(w.name, &leaseView{rv: rv, holder: w.holder, annotations: w.annotations, transitions: w.transitions}, r.now)
		}
	}
	return len(ws)
}

// renewal delivers a renewal of node i's lease through the watch.
func (r *planRig) renewal(i int) {
	n := r.nodes[i]
	r.c.observeNode(n, &leaseView{rv: r.nextRV(), holder: n}, r.now)
}

// BenchmarkPlanPerEvent measures the election's CPU per watch event in the
// steady state of 100 nodes and 5,000 groups: each event is one other node's
// renewal (200 of them a second in such a cluster, 5 ms apart) followed by
// the plan the Elector's loop runs after it.
func BenchmarkPlanPerEvent(b *testing.B) {
	for _, sz := range []struct{ nodes, groups int }{{100, 5000}, {20, 5000}, {100, 200}} {
		b.Run(fmt.Sprintf("nodes=%d,groups=%d", sz.nodes, sz.groups), func(b *testing.B) {
			r := newPlanRig(b, sz.nodes, sz.groups)
			held := len(r.c.held)
			if held == 0 {
				b.Fatalf("the rig holds nothing: %d groups", sz.groups)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				r.renewal(1 + i%(sz.nodes-1))
				r.step(5 * time.Millisecond)
			}
			b.StopTimer()
			if len(r.c.held) != held {
				b.Fatalf("held %d groups after the run, %d before: the steady state moved", len(r.c.held), held)
			}
		})
	}
}
