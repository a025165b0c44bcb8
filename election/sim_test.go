package election

import (
	"container/heap"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The randomised test runs several election cores against one in-memory
// lease store with resourceVersion semantics, in simulated time.
//
// Why not the fake clientset and real informers: their goroutines make the
// interleaving depend on the scheduler, so a failing seed would not replay;
// and the fake tracker does not implement optimistic concurrency. The store
// below is small (create/update/delete conditional on resourceVersion, an
// ordered watch per node) and the cores are exactly the code the Elector
// runs; the Elector's own wiring to client-go is covered by elector_test.go.
//
// Invariants, checked after every simulated event:
//
//   - lease-backed: a node holds group g (g in its Held) only if the store's
//     history of g contains the version the node recorded for its claim,
//     written by that node with holder = that node.
//   - exclusive: for every g, at most one running node holds g (a paused
//     speaker answers nothing and is fenced the moment it continues). The
//     speaker's fencing is modelled as it works on the wire: the moment a node starts
//     holding g it announces it, and every other node still holding g gets
//     Lost(g). Fencing is legitimate only against a node cut off from the API
//     server, so:
//   - no takeover of a connected holder: whenever a node starts holding g while
//     another node holds it (fencing), or claims g because its holder's node
//     lease expired, that holder must have been crashed or partitioned within
//     the last 2*duration+renew. Lease rules alone keep connected nodes apart.
//
// Liveness, checked once the chaos stops and everything has healed: every
// group with at least one candidate is held by exactly one of its
// candidates, and the store names that node; groups that no longer exist
// have no lease.

type simVersion struct {
	rv      int64
	holder  string
	writer  string
	deleted bool
}

type simLease struct {
	rv          int64
	node        bool // node lease, else VIP lease
	holder      string
	annotations map[string]string
	transitions int32
}

type simEvent struct {
	at  time.Time
	seq int
	f   func()
}

type simQueue []*simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(*simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type simNode struct {
	name        string
	core        *core
	gen         int // incarnation; results and deliveries of older ones are dropped
	down        bool
	partitioned bool
	trouble     time.Time // last moment it was crashed or partitioned
	watchAt     time.Time // last scheduled watch delivery, to keep order
	backlog     []func()
	slow        bool
	stalled     bool            // the watch delivers nothing for a while; writes still work
	announced   map[string]bool // what the speaker announces: Held() at the last step
	ticks       map[time.Time]bool
	// paused: the speaker is stopped (SIGSTOP). Everything addressed to
	// it (watch deliveries, write answers, timers, probes to answer)
	// waits in frozen until it continues; the API server still applies
	// the writes it sent before.
	paused bool
	frozen []func()
	fenced []string             // groups announced by others while paused
	probes map[string]*simProbe // wire check: per suspect node
}

// simProbe is the wire check's count of unanswered probes to one suspect,
// as the speaker's prober keeps it.
type simProbe struct {
	first  time.Time // send time of the first unanswered probe of this run
	misses int
	out    bool // the last probe is unanswered so far
}

// The wire check's prober in the simulation: a probe every simProbeEvery
// to each suspect, simProbeK unanswered in a row make it silent, and one
// in simProbeLoss probes (or its answer) is lost.
const (
	simProbeEvery = 100 * time.Millisecond
	simProbeK     = 3
	simProbeLoss  = 10
)

type simWatchItem struct {
	name string
	l    *simLease // nil: deleted
}

type sim struct {
	t       *testing.T
	rng     *rand.Rand
	now     time.Time
	seq     int
	q       simQueue
	tm      Timing
	nodes   []*simNode
	store   map[string]*simLease
	history map[string][]simVersion
	rv      int64
	// groups: the cluster's truth; each node learns it with a delay.
	groups  map[string][]string // group -> candidates
	annots  map[string]string   // group -> annotation value
	removed map[string]bool
	chaos   bool
	// wire turns the wire check on: every core gets it, and every node
	// probes its suspects.
	wire bool
	// host makes every probe also ask for the suspect's own address, which
	// its kernel answers unless the node is down, even while its speaker is
	// paused (Suspect.Addrs); silence is then reported with host set.
	host bool

	trace string // ELECTION_SIM_TRACE: a group whose every step is logged

	fences, expiredWins, wins, wireWins, probesSent, pauses int
	fails                                                   []string
}

func newSim(t *testing.T, seed uint64, nodes int) *sim {
	s := &sim{
		t:       t,
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now:     time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		tm:      Timing{}.WithDefaults(),
		store:   map[string]*simLease{},
		history: map[string][]simVersion{},
		groups:  map[string][]string{},
		annots:  map[string]string{},
		removed: map[string]bool{},
		chaos:   true,
		trace:   os.Getenv("ELECTION_SIM_TRACE"),
	}
	for i := range nodes {
		s.nodes = append(s.nodes, &simNode{name: fmt.Sprintf("n%d", i+1), down: true, ticks: map[time.Time]bool{}})
	}
	return s
}

func (s *sim) tracef(name, format string, args ...any) {
	if s.trace != "" && (name == s.trace || strings.HasPrefix(name, NodeLeasePrefix) && s.trace == "nodes") {
		s.t.Logf("%v %s: %s", s.now.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), name, fmt.Sprintf(format, args...))
	}
}

func (s *sim) failf(format string, args ...any) {
	msg := fmt.Sprintf("t=%v: ", s.now.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))) + fmt.Sprintf(format, args...)
	if len(s.fails) < 20 {
		s.fails = append(s.fails, msg)
	}
}

func (s *sim) after(d time.Duration, f func()) {
	s.seq++
	heap.Push(&s.q, &simEvent{at: s.now.Add(d), seq: s.seq, f: f})
}

// onNode schedules f, an event addressed to n's speaker, after d; while n
// is paused it waits until n continues.
func (s *sim) onNode(n *simNode, d time.Duration, f func()) {
	s.after(d, func() {
		if n.paused {
			n.frozen = append(n.frozen, f)
			return
		}
		f()
	})
}

func (s *sim) dur(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)))
}

// apply performs w for writer on the store and returns the outcome.
func (s *sim) apply(w write, writer string) (outcome, string) {
	cur := s.store[w.name]
	if w.kind == writeDelete || w.kind == writeDeleteNode {
		if cur == nil || strconv.FormatInt(cur.rv, 10) != w.rv {
			return outcomeConflict, ""
		}
		delete(s.store, w.name)
		s.rv++
		if !cur.node {
			s.history[w.name] = append(s.history[w.name], simVersion{rv: s.rv, writer: writer, deleted: true})
		}
		s.broadcast(w.name, nil)
		return outcomeOK, ""
	}
	if (w.rv == "") != (cur == nil) || cur != nil && strconv.FormatInt(cur.rv, 10) != w.rv {
		if w.kind == writeRenew && cur != nil {
			// The Elector re-reads its own node lease after a conflict.
			return outcomeConflict, strconv.FormatInt(cur.rv, 10)
		}
		return outcomeConflict, ""
	}
	s.rv++
	l := &simLease{rv: s.rv, node: w.kind == writeRenew, holder: w.holder, annotations: w.annotations, transitions: w.transitions}
	s.store[w.name] = l
	if !l.node {
		s.history[w.name] = append(s.history[w.name], simVersion{rv: s.rv, holder: w.holder, writer: writer})
	}
	s.broadcast(w.name, l)
	return outcomeOK, strconv.FormatInt(s.rv, 10)
}

// broadcast schedules the watch delivery of a change to every node, in
// order per node.
func (s *sim) broadcast(name string, l *simLease) {
	for _, n := range s.nodes {
		n := n
		if n.down {
			continue
		}
		maxDelay := 60 * time.Millisecond
		if n.slow {
			maxDelay = 500 * time.Millisecond
		}
		at := s.now.Add(s.dur(0, maxDelay))
		if at.Before(n.watchAt) {
			at = n.watchAt
		}
		n.watchAt = at
		gen := n.gen
		item := simWatchItem{name: name, l: l}
		s.onNode(n, at.Sub(s.now), func() {
			if n.gen != gen || n.down {
				return
			}
			if n.partitioned || n.stalled {
				n.backlog = append(n.backlog, func() { s.deliver(n, item) })
				return
			}
			s.deliver(n, item)
			s.step(n)
		})
	}
}

func (s *sim) deliver(n *simNode, it simWatchItem) {
	var lv *leaseView
	if it.l != nil {
		lv = &leaseView{rv: strconv.FormatInt(it.l.rv, 10), holder: it.l.holder, annotations: it.l.annotations, transitions: it.l.transitions}
	}
	if strings.HasPrefix(it.name, NodeLeasePrefix) {
		n.core.observeNode(strings.TrimPrefix(it.name, NodeLeasePrefix), lv, s.now)
	} else {
		n.core.observeVIP(it.name, lv, s.now)
	}
}

// relist delivers the store as it is now, as an informer does after its
// watch broke: deletions of what the node knew, then every lease.
func (s *sim) relist(n *simNode) {
	n.core.relisted(s.now)
	for name, v := range n.core.vips {
		if v.cache != nil && s.store[name] == nil {
			n.core.observeVIP(name, nil, s.now)
		}
	}
	for node, st := range n.core.nodes {
		if st.exists && s.store[NodeLeaseName(node)] == nil {
			n.core.observeNode(node, nil, s.now)
		}
	}
	names := make([]string, 0, len(s.store))
	for name := range s.store {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s.deliver(n, simWatchItem{name: name, l: s.store[name]})
	}
}

func (s *sim) specsFor(n *simNode) []GroupSpec {
	names := make([]string, 0, len(s.groups))
	for g := range s.groups {
		names = append(names, g)
	}
	sort.Strings(names)
	var out []GroupSpec
	for _, g := range names {
		c := s.groups[g]
		sp := GroupSpec{Name: g, Candidates: c, Candidate: slices.Contains(c, n.name),
			Annotations: map[string]string{"leaselb.io/ips": s.annots[g]}}
		if !sp.Candidate {
			sp.Reason = "nodeNotSelected"
		}
		out = append(out, sp)
	}
	return out
}

// start (re)starts n's speaker: a new core that lists the store, syncs and
// gets the groups.
func (s *sim) start(n *simNode) {
	n.gen++
	n.down = false
	n.stalled = false
	n.trouble = s.now // it was down until now
	n.backlog = nil
	n.watchAt = s.now
	n.ticks = map[time.Time]bool{}
	n.core = newCore(n.name, s.tm)
	n.core.wireCheck = s.wire
	n.paused, n.frozen, n.fenced, n.probes = false, nil, nil, map[string]*simProbe{}
	if !n.partitioned {
		// Cut off from the API server, the informer cannot list: it
		// syncs when the partition heals.
		s.relist(n)
		n.core.markSynced(s.now)
	}
	gen := n.gen
	// The speaker calls SetGroups once its own informers synced.
	s.onNode(n, s.dur(0, 200*time.Millisecond), func() {
		if n.gen == gen && !n.down {
			n.core.setGroups(s.specsFor(n))
			s.step(n)
		}
	})
	if s.wire {
		s.probeTick(n, gen)
	}
	s.step(n)
}

// probeTick is one round of n's prober: count the unanswered probe of the
// last round, report silence after simProbeK in a row, send the next.
func (s *sim) probeTick(n *simNode, gen int) {
	s.onNode(n, simProbeEvery, func() {
		if n.gen != gen || n.down {
			return
		}
		group := map[string]string{} // suspect node -> the group probed
		var targets []string
		for _, sp := range n.core.suspects {
			if _, ok := group[sp.Node]; !ok {
				group[sp.Node] = sp.Group
				targets = append(targets, sp.Node)
			}
		}
		for t := range n.probes {
			if _, ok := group[t]; !ok {
				delete(n.probes, t)
			}
		}
		silent := false
		for _, t := range targets {
			p := n.probes[t]
			if p == nil {
				p = &simProbe{}
				n.probes[t] = p
			}
			if p.out {
				p.misses++
				if p.misses >= simProbeK {
					n.core.wireSilent(t, p.first, s.host)
					silent = true
				}
			}
			if p.misses == 0 {
				p.first = s.now
			}
			p.out = true
			s.probe(n, gen, t, group[t])
		}
		if silent {
			s.step(n)
		}
		s.probeTick(n, gen)
	})
}

// probe sends one probe from n to node t for group g: t answers if its
// speaker runs and announces g (a paused one answers when it continues,
// from its socket buffer), and, with s.host, t's kernel answers for its own
// address unless t is down; every frame may be lost.
func (s *sim) probe(n *simNode, gen int, t, g string) {
	s.probesSent++
	m := s.node(t)
	if m == nil || m.down {
		return
	}
	answer := func() {
		s.onNode(n, s.dur(100*time.Microsecond, time.Millisecond), func() {
			if n.gen != gen || n.down {
				return
			}
			if p := n.probes[t]; p != nil {
				p.misses, p.out = 0, false
			}
			n.core.wireAlive(t)
			s.step(n)
		})
	}
	if s.host && s.rng.IntN(simProbeLoss) != 0 {
		s.after(s.dur(100*time.Microsecond, time.Millisecond), func() {
			if !m.down && s.rng.IntN(simProbeLoss) != 0 {
				answer()
			}
		})
	}
	if s.rng.IntN(simProbeLoss) == 0 {
		return
	}
	mgen := m.gen
	s.onNode(m, s.dur(100*time.Microsecond, time.Millisecond), func() {
		if m.gen != mgen || m.down || !m.announced[g] || s.rng.IntN(simProbeLoss) == 0 {
			return
		}
		answer()
	})
}

// pause stops n's speaker for d (SIGSTOP), then lets it continue with
// everything that arrived meanwhile.
func (s *sim) pause(n *simNode, d time.Duration) {
	s.tracef(s.trace, "%s paused for %v", n.name, d)
	s.pauses++
	n.paused = true
	gen := n.gen
	s.after(d, func() {
		if n.gen != gen || !n.paused {
			return
		}
		s.resume(n)
	})
}

func (s *sim) resume(n *simNode) {
	n.paused = false
	for _, g := range n.fenced {
		n.core.lost(g, s.now)
	}
	n.fenced = nil
	s.notes(n)
	frozen := n.frozen
	n.frozen = nil
	for _, f := range frozen {
		if n.paused {
			n.frozen = append(n.frozen, f)
			continue
		}
		f()
	}
	s.step(n)
}

func (s *sim) crash(n *simNode) {
	s.tracef(s.trace, "%s crashes", n.name)
	n.down = true
	n.paused, n.frozen, n.fenced = false, nil, nil
	n.core = nil
	n.gen++
	n.trouble = s.now
}

// step lets n plan after something happened to it, performs its writes,
// applies fencing and checks the invariants.
func (s *sim) step(n *simNode) {
	if n.down {
		return
	}
	if n.paused {
		n.frozen = append(n.frozen, func() { s.step(n) })
		return
	}
	writes, wake := n.core.plan(s.now)
	for _, w := range writes {
		s.send(n, w)
	}
	if !wake.IsZero() && !n.ticks[wake] {
		n.ticks[wake] = true
		gen := n.gen
		s.onNode(n, wake.Sub(s.now), func() {
			delete(n.ticks, wake)
			if n.gen == gen && !n.down {
				s.step(n)
			}
		})
	}
	s.notes(n)
	var gained []string
	for g := range n.core.held {
		if !n.announced[g] {
			gained = append(gained, g)
		}
	}
	sort.Strings(gained)
	n.announced = map[string]bool{}
	for g := range n.core.held {
		n.announced[g] = true
	}
	for _, g := range gained {
		s.gained(n, g)
	}
	s.check()
}

func (s *sim) notes(n *simNode) {
	for _, nt := range n.core.notes {
		s.tracef(nt.group, "%s note kind=%d reason=%s", n.name, nt.kind, nt.reason)
		if nt.kind == noteWon {
			s.wins++
			if nt.reason == ReasonWireSilent {
				s.wireWins++
			}
		}
	}
	n.core.notes = n.core.notes[:0]
}

// gained is n starting to announce g: fence every other holder, and check
// that a takeover only ever hit a node that was cut off.
func (s *sim) gained(n *simNode, g string) {
	// The version n's claim replaced tells whom it was taken from.
	hist := s.history[g]
	var prev string
	released := true
	for i, v := range hist {
		if strconv.FormatInt(v.rv, 10) == n.core.held[g].rv && i > 0 {
			prev, released = hist[i-1].holder, hist[i-1].holder == "" || hist[i-1].deleted
		}
	}
	for _, m := range s.nodes {
		if m == n || m.down {
			continue
		}
		if _, ok := m.core.held[g]; !ok {
			continue
		}
		s.fences++
		s.checkTroubled(m, "fenced", g, n.name)
		if m.paused {
			// A stopped speaker answers nothing; the successor's
			// announcement waits in its socket buffer and fences it
			// the moment it continues, before anything else.
			m.fenced = append(m.fenced, g)
			continue
		}
		m.core.lost(g, s.now)
		s.notes(m)
		s.step(m)
	}
	if prev != "" && prev != n.name {
		if m := s.node(prev); m != nil && !released {
			s.expiredWins++
			s.checkTroubled(m, "taken by expiry", g, n.name)
		}
	}
}

func (s *sim) checkTroubled(m *simNode, what, g, by string) {
	window := 2*s.tm.NodeLeaseDuration + s.tm.NodeLeaseRenew
	if m.down || m.partitioned || s.now.Sub(m.trouble) <= window {
		return
	}
	s.failf("%s: group %s taken from %s by %s although %s was connected (last trouble %v ago)",
		what, g, m.name, by, m.name, s.now.Sub(m.trouble))
}

func (s *sim) node(name string) *simNode {
	for _, n := range s.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// send performs w for n with delays; a partitioned node's writes fail.
func (s *sim) send(n *simNode, w write) {
	gen := n.gen
	maxDelay := 30 * time.Millisecond
	if n.slow {
		maxDelay = 250 * time.Millisecond
	}
	reply := func(out outcome, rv string) {
		s.onNode(n, s.dur(0, maxDelay), func() {
			if n.gen != gen || n.down {
				return
			}
			n.core.done(w, out, rv, s.now)
			s.step(n)
		})
	}
	s.tracef(w.name, "%s sends %s rv=%q holder=%q reason=%s partitioned=%v", n.name, w.kind, w.rv, w.holder, w.reason, n.partitioned)
	if n.partitioned {
		reply(outcomeFailed, "")
		return
	}
	s.after(s.dur(0, maxDelay), func() {
		if n.partitioned && n.gen == gen {
			reply(outcomeFailed, "")
			return
		}
		out, rv := s.apply(w, n.name)
		s.tracef(w.name, "store applies %s by %s: outcome=%d rv=%s", w.kind, n.name, out, rv)
		if out == outcomeOK && s.chaos && s.rng.IntN(50) == 0 {
			// The write happened but its answer was lost (timeout).
			out, rv = outcomeFailed, ""
		}
		reply(out, rv)
	})
}

func (s *sim) check() {
	for g := range s.groupsAndLeases() {
		var holders []string
		for _, n := range s.nodes {
			if n.down || n.paused {
				// A stopped speaker answers nothing.
				continue
			}
			h, ok := n.core.held[g]
			if !ok {
				continue
			}
			holders = append(holders, n.name)
			found := false
			for _, v := range s.history[g] {
				if strconv.FormatInt(v.rv, 10) == h.rv {
					found = true
					if v.writer != n.name || v.holder != n.name || v.deleted {
						s.failf("%s holds %s at rv %s, but that version was written by %q with holder %q", n.name, g, h.rv, v.writer, v.holder)
					}
				}
			}
			if !found {
				s.failf("%s holds %s at rv %s, which the store never had", n.name, g, h.rv)
			}
		}
		if len(holders) > 1 {
			s.failf("group %s held by %v at once", g, holders)
		}
	}
}

func (s *sim) groupsAndLeases() map[string]bool {
	out := map[string]bool{}
	for g := range s.groups {
		out[g] = true
	}
	for g := range s.history {
		out[g] = true
	}
	return out
}

// randomCandidates picks 0..all nodes.
func (s *sim) randomCandidates() []string {
	var c []string
	for _, n := range s.nodes {
		if s.rng.IntN(3) != 0 {
			c = append(c, n.name)
		}
	}
	if s.rng.IntN(10) == 0 {
		c = nil
	}
	return c
}

// tellGroups delivers the cluster's groups to every running node, each
// with its own delay (speakers' informers are not in step).
func (s *sim) tellGroups() {
	for _, n := range s.nodes {
		n := n
		gen := n.gen
		s.onNode(n, s.dur(0, 300*time.Millisecond), func() {
			if n.gen == gen && !n.down {
				n.core.setGroups(s.specsFor(n))
				s.step(n)
			}
		})
	}
}

// disturb schedules the next random fault or change.
func (s *sim) disturb() {
	if !s.chaos {
		return
	}
	s.after(s.dur(100*time.Millisecond, 1500*time.Millisecond), func() {
		if !s.chaos {
			return
		}
		n := s.nodes[s.rng.IntN(len(s.nodes))]
		if n.paused {
			s.disturb()
			return
		}
		if s.wire && s.rng.IntN(8) == 0 {
			// The speaker is stopped for up to 700 ms (SIGSTOP), on a node
			// with nothing else wrong: it must keep its groups.
			if !n.down && !n.partitioned && !n.stalled && !n.slow {
				s.pause(n, s.dur(100*time.Millisecond, 700*time.Millisecond))
			}
			s.disturb()
			return
		}
		switch r := s.rng.IntN(100); {
		case r < 15: // crash and restart later
			if !n.down {
				s.crash(n)
				s.after(s.dur(300*time.Millisecond, 8*time.Second), func() {
					if n.down {
						s.start(n)
					}
				})
			}
		case r < 35: // partition from the API server
			if !n.down && !n.partitioned {
				s.partition(n, s.dur(300*time.Millisecond, 10*time.Second))
			}
		case r < 40: // the API server is down for everyone
			d := s.dur(time.Second, 30*time.Second)
			for _, m := range s.nodes {
				if !m.down && !m.partitioned && !m.paused {
					s.partition(m, d)
				}
			}
		case r < 47: // the watch stalls while writes still work
			if !n.down && !n.partitioned && !n.stalled {
				n.stalled = true
				s.tracef(s.trace, "%s watch stalls", n.name)
				s.after(s.dur(time.Second, 8*time.Second), func() { s.unstall(n) })
			}
		case r < 55: // a slow spell
			if !n.slow {
				n.slow = true
				s.after(s.dur(time.Second, 10*time.Second), func() { n.slow = false })
			}
		case r < 80: // candidates change
			gs := s.groupNames()
			if len(gs) > 0 {
				g := gs[s.rng.IntN(len(gs))]
				s.groups[g] = s.randomCandidates()
				s.tellGroups()
			}
		case r < 85: // annotations change
			gs := s.groupNames()
			if len(gs) > 0 {
				g := gs[s.rng.IntN(len(gs))]
				s.annots[g] = s.annots[g] + "+"
				s.tellGroups()
			}
		case r < 92: // a group goes away
			gs := s.groupNames()
			if len(gs) > 1 {
				g := gs[s.rng.IntN(len(gs))]
				delete(s.groups, g)
				s.removed[g] = true
				s.tellGroups()
			}
		default: // a group appears
			g := fmt.Sprintf("vip-198.51.100.%d", s.rng.IntN(250))
			if _, ok := s.groups[g]; !ok {
				delete(s.removed, g)
				s.groups[g] = s.randomCandidates()
				s.annots[g] = g
				s.tellGroups()
			}
		}
		s.disturb()
	})
}

func (s *sim) groupNames() []string {
	var gs []string
	for g := range s.groups {
		gs = append(gs, g)
	}
	sort.Strings(gs)
	return gs
}

func (s *sim) partition(n *simNode, d time.Duration) {
	s.tracef(s.trace, "%s partitioned for %v", n.name, d)
	n.partitioned = true
	n.trouble = s.now
	s.after(d, func() {
		if n.partitioned {
			s.heal(n)
		}
	})
}

func (s *sim) unstall(n *simNode) {
	if !n.stalled {
		return
	}
	n.stalled = false
	if n.down || n.partitioned {
		return // a restart re-listed, or heal will deliver the backlog
	}
	for _, f := range n.backlog {
		f()
	}
	n.backlog = nil
	s.step(n)
}

func (s *sim) heal(n *simNode) {
	s.tracef(s.trace, "%s healed", n.name)
	n.partitioned = false
	n.trouble = s.now
	if n.down || n.stalled && n.core.synced {
		return // unstall delivers the backlog
	}
	n.stalled = false
	if n.core.synced && s.rng.IntN(2) == 0 {
		// The watch resumes where it stopped.
		for _, f := range n.backlog {
			f()
		}
	} else {
		s.relist(n)
	}
	n.core.markSynced(s.now)
	n.backlog = nil
	s.step(n)
}

func (s *sim) run(until time.Duration) {
	end := s.now.Add(until)
	for len(s.q) > 0 && len(s.fails) == 0 {
		e := heap.Pop(&s.q).(*simEvent)
		if e.at.After(end) {
			heap.Push(&s.q, e)
			s.now = end
			return
		}
		s.now = e.at
		e.f()
	}
}

// calm ends the chaos: heal every partition, restart every crashed node,
// deliver the final groups everywhere.
func (s *sim) calm() {
	s.chaos = false
	for _, n := range s.nodes {
		n.slow = false
		if n.paused {
			s.resume(n)
		}
		if n.down {
			s.start(n)
		}
		s.unstall(n)
		if n.partitioned {
			s.heal(n)
		}
	}
	s.tellGroups()
}

func (s *sim) checkLiveness() {
	for _, g := range s.groupNames() {
		cands := s.groups[g]
		var holders []string
		for _, n := range s.nodes {
			if _, ok := n.core.held[g]; ok {
				holders = append(holders, n.name)
			}
		}
		l := s.store[g]
		switch {
		case len(cands) == 0:
			if len(holders) > 0 {
				s.failf("group %s has no candidate but is held by %v", g, holders)
			}
			// A lease naming a node that is not running stays as it
			// is: nobody announces it, and nobody may claim it.
			if l != nil && l.holder != "" && s.node(l.holder) != nil {
				s.failf("group %s has no candidate but its lease names %q", g, l.holder)
			}
		case len(holders) != 1:
			s.failf("group %s (candidates %v) held by %v after calm, lease %+v", g, cands, holders, l)
		case !slices.Contains(cands, holders[0]):
			s.failf("group %s held by %s, not a candidate %v", g, holders[0], cands)
		case l == nil || l.holder != holders[0]:
			s.failf("group %s held by %s but its lease says %+v", g, holders[0], l)
		}
	}
	for name, l := range s.store {
		if _, exists := s.groups[name]; !l.node && !exists {
			s.failf("lease %s of a group that does not exist is still there (holder %q)", name, l.holder)
		}
	}
}

// simWire is how a simulation runs the wire check.
type simWire int

const (
	wireOff  simWire = iota
	wireVIP          // probes for a VIP only, answered by the speaker
	wireHost         // probes for a VIP and the node's own address
)

func (w simWire) String() string { return [...]string{"off", "vip", "host"}[w] }

// set turns the wire check of s on or off as w says.
func (w simWire) set(s *sim) { s.wire, s.host = w != wireOff, w == wireHost }

func runSim(t *testing.T, seed uint64, wire simWire) *sim {
	s := newSim(t, seed, 5)
	wire.set(s)
	for i := range 12 {
		g := fmt.Sprintf("vip-192.0.2.%d", 10+i)
		s.groups[g] = s.randomCandidates()
		s.annots[g] = g
	}
	// Leftovers of a previous run: a VIP lease held by a node that never
	// comes back, one of a group that no longer exists, and one that says
	// n1 holds it (n1 must adopt it, not trust it).
	ghost := func(name, holder string) {
		s.rv++
		s.store[name] = &simLease{rv: s.rv, holder: holder}
		s.history[name] = append(s.history[name], simVersion{rv: s.rv, holder: holder, writer: "previous-run"})
	}
	ghost("vip-192.0.2.10", "gone")
	ghost("vip-203.0.113.99", "n2")
	ghost("vip-192.0.2.11", "n1")
	for _, n := range s.nodes {
		s.start(n)
	}
	s.disturb()
	s.run(3 * time.Minute)
	s.calm()
	s.run(40 * time.Second)
	if len(s.fails) == 0 {
		s.checkLiveness()
	}
	return s
}

// TestSimulation runs the randomised test with fixed seeds; set
// ELECTION_SIM_SEEDS=N to run N more seeds (ELECTION_SIM_SEED=S runs one).
func TestSimulation(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	if v := os.Getenv("ELECTION_SIM_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("ELECTION_SIM_SEEDS=%q: want a number of seeds", v)
		}
		for i := range n {
			seeds = append(seeds, uint64(1000+i))
		}
	}
	if v := os.Getenv("ELECTION_SIM_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("ELECTION_SIM_SEED=%q: want a number", v)
		}
		seeds = []uint64{n}
	}
	for _, wire := range []simWire{wireOff, wireVIP, wireHost} {
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("wire=%v/seed=%d", wire, seed), func(t *testing.T) {
				s := runSim(t, seed, wire)
				for _, f := range s.fails {
					t.Error(f)
				}
				t.Logf("wins=%d fences=%d takeoversByExpiry=%d wireSilentWins=%d probes=%d pauses=%d writes(rv)=%d",
					s.wins, s.fences, s.expiredWins, s.wireWins, s.probesSent, s.pauses, s.rv)
			})
		}
	}
}

func (s *sim) heldSets() map[string]string {
	out := map[string]string{}
	for _, n := range s.nodes {
		if n.down {
			continue
		}
		for g := range n.core.held {
			out[g] = n.name
		}
	}
	return out
}

// startSteady starts a calm simulation (no chaos) of five nodes, n1 to n5,
// each a candidate for the same 20 groups, with the wire check as wire says.
func startSteady(t *testing.T, seed uint64, wire simWire) *sim {
	s := newSim(t, seed, 5)
	s.chaos = false
	wire.set(s)
	for i := range 20 {
		g := fmt.Sprintf("vip-192.0.2.%d", 10+i)
		s.groups[g] = []string{"n1", "n2", "n3", "n4", "n5"}
		s.annots[g] = g
	}
	for _, n := range s.nodes {
		s.start(n)
	}
	return s
}

// TestSimulationAPIOutage: the API server goes away for everyone for a
// minute and comes back, the watches resuming or re-listing. Every holder
// keeps announcing throughout, and nothing changes hands afterwards (no
// handover storm).
func TestSimulationAPIOutage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		relist bool
	}{{"watch resumes", false}, {"watch re-lists", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSteady(t, 42, wireOff)
			s.run(20 * time.Second)
			before := s.heldSets()
			if len(before) != 20 {
				t.Fatalf("before the outage %d of 20 groups are held: %v", len(before), before)
			}
			perNode := map[string]int{}
			for _, n := range before {
				perNode[n]++
			}
			t.Logf("groups per node: %v", perNode)
			if len(perNode) != len(s.nodes) {
				t.Errorf("rendezvous ranking should spread 20 groups over all 5 nodes, got %v", perNode)
			}
			wins, fences := s.wins, s.fences
			for _, n := range s.nodes {
				n.partitioned = true
			}
			s.run(time.Minute)
			if during := s.heldSets(); !maps.Equal(before, during) {
				t.Errorf("held changed during the outage:\nbefore %v\nduring %v", before, during)
			}
			for _, n := range s.nodes {
				n.partitioned = false
				if tc.relist {
					s.relist(n)
				} else {
					for _, f := range n.backlog {
						f()
					}
				}
				n.backlog = nil
				s.step(n)
			}
			s.run(30 * time.Second)
			for _, f := range s.fails {
				t.Error(f)
			}
			if after := s.heldSets(); !maps.Equal(before, after) {
				t.Errorf("held changed after the outage:\nbefore %v\nafter  %v", before, after)
			}
			if s.wins != wins || s.fences != fences {
				t.Errorf("after the outage: %d claims won and %d fencings, want none", s.wins-wins, s.fences-fences)
			}
		})
	}
}

// TestSimulationFailover measures, in simulated time with the default
// timings (watch delays up to 60 ms, write round trips up to 60 ms), how
// long groups stay unheld when their holder dies, and when it stops
// gracefully (releasing first), and checks both against the protocol's
// bounds.
//
// With the wire check on, the top-ranked successor of a dead holder probes
// it (a probe every 100 ms, one in ten lost) and claims at WireLapse
// instead of NodeLeaseDuration, or at HostLapse when the node's own address
// is probed too.
func TestSimulationFailover(t *testing.T) {
	for _, tc := range []struct {
		graceful bool
		wire     simWire
	}{{false, wireOff}, {false, wireVIP}, {false, wireHost}, {true, wireOff}, {true, wireHost}} {
		graceful := tc.graceful
		t.Run(fmt.Sprintf("graceful=%v/wire=%v", graceful, tc.wire), func(t *testing.T) {
			var gaps []time.Duration
			for seed := range uint64(10) {
				s := startSteady(t, 100+seed, tc.wire)
				s.run(20*time.Second + s.dur(0, time.Second))
				victim := s.nodes[s.rng.IntN(len(s.nodes))]
				var lost []string
				for g := range victim.core.held {
					lost = append(lost, g)
				}
				stopped := s.now
				if graceful {
					for _, w := range victim.core.shutdown(s.now) {
						s.send(victim, w)
					}
					// The releases are on their way; the process exits.
				}
				s.crash(victim)
				won := map[string]time.Duration{}
				for s.now.Sub(stopped) < 10*time.Second && len(won) < len(lost) {
					s.run(time.Millisecond)
					for _, g := range lost {
						if _, ok := won[g]; ok {
							continue
						}
						for _, n := range s.nodes {
							if !n.down && n.announced[g] {
								won[g] = s.now.Sub(stopped)
							}
						}
					}
				}
				for _, f := range s.fails {
					t.Error(f)
				}
				for _, g := range lost {
					d, ok := won[g]
					if !ok {
						t.Fatalf("seed %d: group %s never taken over after %s stopped", seed, g, victim.name)
					}
					gaps = append(gaps, d)
				}
			}
			slices.Sort(gaps)
			p50, p99, worst := gaps[len(gaps)/2], gaps[len(gaps)*99/100], gaps[len(gaps)-1]
			t.Logf("%d groups taken over: p50 %v, p99 %v, max %v", len(gaps), p50, p99, worst)
			bound := DefaultNodeLeaseDuration + DefaultRankStep + 300*time.Millisecond
			switch tc.wire {
			case wireVIP:
				bound = Timing{}.WithDefaults().WireLapse + 300*time.Millisecond
			case wireHost:
				bound = Timing{}.WithDefaults().HostLapse + 300*time.Millisecond
			}
			if graceful {
				bound = 300 * time.Millisecond
			}
			if worst > bound {
				t.Errorf("a group waited %v for a successor, want <= %v", worst, bound)
			}
		})
	}
}

// TestSimulationPause stops a holder's speaker (SIGSTOP) for 700 ms at a
// random point of its renewal period, with the wire check on: it answers
// neither its node lease nor probes for its VIPs meanwhile, yet it must keep
// every group (no claim won, no fencing). Probing for VIPs only, because
// WireLapse (1.5 s) exceeds the longest gap a 700 ms pause leaves between
// two renewals seen (500 ms + 700 ms) with room for the answers queued in
// its socket buffer to arrive; probing its node's address too, because its
// kernel answers that throughout, so only the full lapse applies. It also
// logs how long a pause each tolerates, found by stretching it.
func TestSimulationPause(t *testing.T) {
	setup := func(seed uint64, wire simWire) (*sim, *simNode) {
		s := startSteady(t, 200+seed, wire)
		s.run(20*time.Second + s.dur(0, time.Second))
		for _, n := range s.nodes {
			if len(n.core.held) > 0 {
				return s, n
			}
		}
		t.Fatalf("seed %d: nothing held", seed)
		return nil, nil
	}
	moved := func(wire simWire, pause, guaranteed time.Duration, seeds uint64) (moves int) {
		for seed := range seeds {
			s, victim := setup(seed, wire)
			// A random phase of its renewal period; the worst is just
			// before a renewal is due.
			s.run(s.dur(0, s.tm.NodeLeaseRenew))
			before, wins, fences := s.heldSets(), s.wins, s.fences
			if pause > guaranteed {
				// Beyond what the rule guarantees: a takeover is allowed.
				victim.trouble = s.now
			}
			s.pause(victim, pause)
			s.run(5 * time.Second)
			for _, f := range s.fails {
				t.Error(f)
			}
			if s.wins != wins || s.fences != fences || !maps.Equal(before, s.heldSets()) {
				moves++
			}
		}
		return moves
	}
	const seeds = 40
	for _, tc := range []struct {
		wire       simWire
		guaranteed time.Duration // the longest pause the rules promise to survive
	}{
		{wireVIP, 700 * time.Millisecond},
		{wireHost, 1100 * time.Millisecond},
	} {
		t.Run(tc.wire.String(), func(t *testing.T) {
			if n := moved(tc.wire, tc.guaranteed, tc.guaranteed, seeds); n > 0 {
				t.Errorf("a %v pause of a holder moved groups in %d of %d runs, want none", tc.guaranteed, n, seeds)
			}
			for _, p := range []time.Duration{900 * time.Millisecond, 1100 * time.Millisecond, 1300 * time.Millisecond, 1500 * time.Millisecond, 1700 * time.Millisecond} {
				if p > tc.guaranteed {
					t.Logf("pause %v: groups moved in %d of %d runs", p, moved(tc.wire, p, tc.guaranteed, 20), 20)
				}
			}
		})
	}
}
