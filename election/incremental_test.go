package election

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

// twinCores feeds one event stream to two cores of the same node: one plans
// incrementally, the reference plans every group on every pass (fullPlan),
// as plan did before it kept any bookkeeping. Both are planned at the same
// instants, the union of their wake times and the events; every pass must
// give the same writes, the same held groups and the same suspects.
type twinCores struct {
	t        *testing.T
	rng      *rand.Rand
	inc, ref *core
	now      time.Time
	nodes    []string // nodes[0] is the cores' own node
	alive    map[string]bool
	renewed  map[string]time.Time
	store    map[string]*leaseView // the API server's Leases, by name
	rv       int
	inflight []write
	groups   []GroupSpec
	passes   int
}

func newTwinCores(t *testing.T, seed uint64, wire bool) *twinCores {
	tw := &twinCores{t: t, rng: rand.New(rand.NewPCG(seed, 13)), now: t0,
		alive: map[string]bool{}, renewed: map[string]time.Time{}, store: map[string]*leaseView{}}
	for i := range 6 {
		tw.nodes = append(tw.nodes, fmt.Sprintf("n%d", i))
	}
	tw.inc = newCore(tw.nodes[0], Timing{}.WithDefaults())
	tw.ref = newCore(tw.nodes[0], Timing{}.WithDefaults())
	tw.ref.fullPlan = true
	tw.inc.wireCheck, tw.ref.wireCheck = wire, wire
	for _, n := range tw.nodes[1:] {
		tw.alive[n] = tw.rng.IntN(5) > 0
	}
	tw.both(func(c *core) { c.markSynced(tw.now) })
	tw.setGroups()
	return tw
}

func (tw *twinCores) both(f func(*core)) { f(tw.inc); f(tw.ref) }

func (tw *twinCores) nextRV() string { tw.rv++; return strconv.Itoa(tw.rv) }

// setGroups gives the cores 30 groups with random candidates, sharing the
// candidate lists the way the speaker's interning does.
func (tw *twinCores) setGroups() {
	lists := [][]string{tw.nodes, tw.nodes[:3], {tw.nodes[0], tw.nodes[4], tw.nodes[5]}, tw.nodes[1:]}
	tw.groups = nil
	for i := range 30 {
		cands := lists[tw.rng.IntN(len(lists))]
		tw.groups = append(tw.groups, GroupSpec{Name: fmt.Sprintf("vip-10.0.0.%d", i),
			Candidate: slices.Contains(cands, tw.nodes[0]) && tw.rng.IntN(10) > 0, Candidates: cands,
			Annotations: map[string]string{"v": strconv.Itoa(tw.rng.IntN(2))}})
	}
	tw.both(func(c *core) { c.setGroups(tw.groups) })
}

func (tw *twinCores) observe(name string, lv *leaseView) {
	if lv == nil {
		delete(tw.store, name)
	} else {
		tw.store[name] = lv
	}
	if node, ok := cutPrefix(name, NodeLeasePrefix); ok {
		tw.both(func(c *core) { c.observeNode(node, lv, tw.now) })
		return
	}
	tw.both(func(c *core) { c.observeVIP(name, lv, tw.now) })
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return s, false
}

// pass plans both cores and compares them.
func (tw *twinCores) pass() time.Time {
	tw.passes++
	// Both plan the same writes and mark them in flight; complete
	// answers them to both.
	wi, wakeI := tw.inc.plan(tw.now)
	wr, wakeR := tw.ref.plan(tw.now)
	str := func(ws []write) string {
		s := ""
		for _, w := range ws {
			s += fmt.Sprintf("%s %s rv=%s holder=%s %s; ", w.kind, w.name, w.rv, w.holder, w.reason)
		}
		return s
	}
	if a, b := str(wi), str(wr); a != b {
		tw.t.Fatalf("pass %d at %v: incremental plan wrote\n  %s\nfull plan wrote\n  %s", tw.passes, tw.now.Sub(t0), a, b)
	}
	if a, b := tw.inc.heldList(), tw.ref.heldList(); !slices.Equal(a, b) {
		tw.t.Fatalf("pass %d at %v: incremental holds %v, full holds %v", tw.passes, tw.now.Sub(t0), a, b)
	}
	if a, b := tw.inc.suspects, tw.ref.suspects; !slices.EqualFunc(a, b, func(x, y Suspect) bool { return x.Node == y.Node && x.Group == y.Group }) {
		tw.t.Fatalf("pass %d at %v: incremental suspects %v, full suspects %v", tw.passes, tw.now.Sub(t0), a, b)
	}
	tw.inflight = append(tw.inflight, wi...)
	wake := wakeI
	if wake.IsZero() || !wakeR.IsZero() && wakeR.Before(wake) {
		wake = wakeR
	}
	return wake
}

// complete answers one write in flight as the API server would, with the
// odd failure.
func (tw *twinCores) complete(i int) {
	w := tw.inflight[i]
	tw.inflight = slices.Delete(tw.inflight, i, i+1)
	cur := tw.store[w.name]
	out, rv := outcomeOK, ""
	switch {
	case tw.rng.IntN(12) == 0:
		out = outcomeFailed
	case (cur == nil) != (w.rv == "") || cur != nil && cur.rv != w.rv:
		out = outcomeConflict
		if cur != nil && w.kind == writeRenew {
			rv = cur.rv
		}
	}
	if out == outcomeOK && (w.kind == writeDelete || w.kind == writeDeleteNode) {
		tw.both(func(c *core) { c.done(w, out, rv, tw.now) })
		tw.observe(w.name, nil)
		return
	}
	var lv *leaseView
	if out == outcomeOK {
		rv = tw.nextRV()
		lv = &leaseView{rv: rv, holder: w.holder, annotations: w.annotations, transitions: w.transitions}
	}
	tw.both(func(c *core) { c.done(w, out, rv, tw.now) })
	if lv != nil && tw.rng.IntN(4) > 0 {
		tw.observe(w.name, lv) // the watch delivers it (or a later event will)
	} else if lv != nil {
		tw.store[w.name] = lv
	}
}

// event does one random thing to the cluster.
func (tw *twinCores) event() {
	r := tw.rng.IntN(100)
	switch {
	case r < 35 && len(tw.inflight) > 0:
		tw.complete(tw.rng.IntN(len(tw.inflight)))
	case r < 60:
		// A live node renews when its period is due.
		n := tw.nodes[1+tw.rng.IntN(len(tw.nodes)-1)]
		if tw.alive[n] && tw.now.Sub(tw.renewed[n]) >= 400*time.Millisecond {
			tw.renewed[n] = tw.now
			tw.observe(NodeLeaseName(n), &leaseView{rv: tw.nextRV(), holder: n})
		}
	case r < 63:
		n := tw.nodes[1+tw.rng.IntN(len(tw.nodes)-1)]
		tw.alive[n] = !tw.alive[n]
	case r < 75:
		// Another node claims or releases a group.
		g := tw.groups[tw.rng.IntN(len(tw.groups))].Name
		n := tw.nodes[1+tw.rng.IntN(len(tw.nodes)-1)]
		lv := &leaseView{rv: tw.nextRV(), holder: n}
		if tw.rng.IntN(3) == 0 {
			lv = &leaseView{rv: lv.rv, annotations: map[string]string{AnnotationReleasedBy: n}}
		}
		tw.observe(g, lv)
	case r < 78:
		// The watch catches up on a lease written without its event.
		names := make([]string, 0, len(tw.store))
		for name := range tw.store {
			names = append(names, name)
		}
		slices.Sort(names)
		if len(names) > 0 {
			name := names[tw.rng.IntN(len(names))]
			tw.observe(name, tw.store[name])
		}
	case r < 80:
		tw.setGroups()
	case r < 83:
		n := tw.nodes[1+tw.rng.IntN(len(tw.nodes)-1)]
		since := tw.now.Add(-time.Duration(tw.rng.IntN(1200)) * time.Millisecond)
		host := tw.rng.IntN(2) == 0
		tw.both(func(c *core) { c.wireSilent(n, since, host) })
	case r < 85:
		n := tw.nodes[1+tw.rng.IntN(len(tw.nodes)-1)]
		tw.both(func(c *core) { c.wireAlive(n) })
	case r < 86:
		g := tw.groups[tw.rng.IntN(len(tw.groups))].Name
		tw.both(func(c *core) { c.lost(g, tw.now) })
	case r < 87:
		tw.both(func(c *core) { c.relisted(tw.now) })
	}
}

// TestIncrementalPlanMatchesFull checks that planning only the groups whose
// inputs changed or whose time came decides exactly what planning every
// group on every pass decides, over random histories.
func TestIncrementalPlanMatchesFull(t *testing.T) {
	seeds := 60
	if testing.Short() {
		seeds = 10
	}
	for seed := range uint64(seeds) {
		for _, wire := range []bool{false, true} {
			t.Run(fmt.Sprintf("seed=%d,wire=%v", seed, wire), func(t *testing.T) {
				tw := newTwinCores(t, seed, wire)
				wake := tw.pass()
				for tw.now.Before(t0.Add(60 * time.Second)) {
					next := tw.now.Add(time.Duration(tw.rng.IntN(120)) * time.Millisecond)
					if !wake.IsZero() && wake.Before(next) {
						next = wake
					}
					if next.After(tw.now) {
						tw.now = next
					}
					if !tw.now.Before(wake) || tw.rng.IntN(3) > 0 {
						tw.event()
					}
					wake = tw.pass()
				}
				if tw.passes < 500 {
					t.Fatalf("only %d passes", tw.passes)
				}
			})
		}
	}
}

// TestRankMatchesRankOf tables the cached rank against rankOf over the live
// list plan built before the cache existed.
func TestRankMatchesRankOf(t *testing.T) {
	many := make([]string, 100)
	for i := range many {
		many[i] = fmt.Sprintf("node-%03d", i)
	}
	for _, tc := range []struct {
		name  string
		cands []string
		gone  string
		dead  []string
	}{
		{"three nodes", []string{"n0", "n1", "n2"}, "", nil},
		{"released by one", []string{"n0", "n1", "n2"}, "n1", nil},
		{"one dead", []string{"n0", "n1", "n2"}, "", []string{"n2"}},
		{"not a candidate itself", []string{"n1", "n2", "n3"}, "", nil},
		{"a name twice", []string{"n0", "n1", "n1", "n2"}, "", nil},
		{"alone", []string{"n0"}, "", nil},
		{"100 nodes", many, "node-050", []string{"node-001", "node-099"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			me := tc.cands[0]
			if tc.name == "not a candidate itself" {
				me = "n0"
			}
			c := newCore(me, Timing{}.WithDefaults())
			c.resumed = t0
			now := t0.Add(time.Second)
			for _, n := range tc.cands {
				c.nodes[n] = &nodeState{exists: !slices.Contains(tc.dead, n), changed: t0}
			}
			for g := range 50 {
				name := fmt.Sprintf("vip-10.0.0.%d", g)
				spec := GroupSpec{Name: name, Candidates: tc.cands}
				var live []string
				for _, n := range tc.cands {
					if n != tc.gone && n != me && c.live(n, now, c.holders) {
						live = append(live, n)
					}
				}
				want := rankOf(me, name, append(live, me))
				for range 2 { // computed, then cached
					if got := c.rank(name, spec, tc.gone, now); got != want {
						t.Fatalf("%s: rank %d, rankOf says %d", name, got, want)
					}
				}
			}
		})
	}
}

// TestSetGroupsSharesCandidates checks that groups handed one candidate
// slice share one copy in the core, that the copy survives the caller
// reusing its buffer, and that an unchanged list keeps its copy across
// calls (so setGroups compares it by pointer).
func TestSetGroupsSharesCandidates(t *testing.T) {
	e := &Elector{wake: make(chan struct{}, 1)}
	c := newCore("n1", Timing{}.WithDefaults())
	list := []string{"n1", "n2", "n3"}
	other := []string{"n1", "n2", "n3"} // equal, another array
	e.SetGroups([]GroupSpec{{Name: "a", Candidates: list}, {Name: "b", Candidates: list}, {Name: "c", Candidates: other}, {Name: "d"}})
	e.apply(c, t0)
	a, b, cc := c.groups["a"].Candidates, c.groups["b"].Candidates, c.groups["c"].Candidates
	if &a[0] != &b[0] {
		t.Error("groups given one slice hold two copies")
	}
	if &a[0] == &list[0] || &cc[0] == &other[0] {
		t.Error("the core holds the caller's slice, not a copy")
	}
	if c.groups["d"].Candidates != nil {
		t.Error("no candidates must stay nil")
	}
	list[0] = "changed"
	if a[0] != "n1" {
		t.Error("the caller's write reached the core's copy")
	}
	e.SetGroups([]GroupSpec{{Name: "a", Candidates: list}, {Name: "c", Candidates: other}})
	e.apply(c, t0)
	if got := c.groups["a"].Candidates; got[0] != "changed" || &got[0] == &a[0] {
		t.Errorf("a changed list kept the old copy: %v", got)
	}
	if got := c.groups["c"].Candidates; &got[0] != &cc[0] {
		t.Error("an unchanged list got a new copy")
	}
}

// TestConflictBackoff tables the wait after a conflict: one duration, then
// doubling while the conflicts in a row are on the same version (the cache
// is behind), up to 8 durations; another version starts again at one.
func TestConflictBackoff(t *testing.T) {
	const D = DefaultNodeLeaseDuration
	for _, tc := range []struct {
		name string
		rvs  []string // the version each claim was conditional on
		want time.Duration
	}{
		{"one conflict", []string{""}, D},
		{"two on the same version", []string{"", ""}, 2 * D},
		{"four in a row", []string{"7", "7", "7", "7"}, 8 * D},
		{"capped", []string{"7", "7", "7", "7", "7", "7"}, 8 * D},
		{"a newer version starts again", []string{"7", "7", "7", "9"}, D},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCore("n1", Timing{}.WithDefaults())
			now := t0
			for _, rv := range tc.rvs {
				now = now.Add(time.Minute)
				c.done(write{kind: writeClaim, name: "vip-a", rv: rv, holder: "n1"}, outcomeConflict, "", now)
			}
			if got := c.vips["vip-a"].blockUntil.Sub(now); got != tc.want {
				t.Errorf("blocked for %v, want %v", got, tc.want)
			}
		})
	}
	// A claim that succeeds ends the series.
	c := newCore("n1", Timing{}.WithDefaults())
	c.done(write{kind: writeClaim, name: "vip-a", rv: "7", holder: "n1"}, outcomeConflict, "", t0)
	c.done(write{kind: writeClaim, name: "vip-a", rv: "7", holder: "n1"}, outcomeOK, "8", t0)
	c.done(write{kind: writeClaim, name: "vip-a", rv: "7", holder: "n1"}, outcomeConflict, "", t0)
	if got := c.vips["vip-a"].blockUntil.Sub(t0); got != D {
		t.Errorf("after a success, blocked for %v, want %v", got, D)
	}
}
