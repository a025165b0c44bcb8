package election

import (
	"container/heap"
	"time"
)

// This file is the bookkeeping that lets plan look only at the groups whose
// inputs changed or whose time came, instead of every group on every pass
// (with 5,000 groups and 100 nodes a pass over all of them cost a speaker
// about a millisecond per watch event, 200 events a second). What a group's
// decision depends on, and what wakes it:
//
//   - its own lease, write results, spec, fencing: marked dirty where they
//     change (observeVIP, done, lost, setGroups);
//   - its own waits (rank step, a block's end, a retry): a due time in a heap;
//   - its holder's node lease (expiry, suspicion, the wire lapse): the
//     holder's thresholds, checked once per pass per holding node, wake all
//     of that holder's groups when crossed; a renewal only moves them;
//   - the echo of our renewal and the freshness of our node lease: the
//     groups waiting for them are woken when those change;
//   - which nodes are live (ranking): the groups that ranked their candidates
//     are woken when any node's liveness changes;
//   - when we resume watching (relist, renewals back after failures): every
//     group.
//
// TestIncrementalPlanMatchesFull runs random event sequences through the
// incremental plan and through a full pass over every group on a copy, and
// demands the same writes.

// dueEntry is one group's next wake time. The heap is lazy: an entry whose
// time no longer matches core.dueAt is stale and skipped.
type dueEntry struct {
	at   time.Time
	name string
}

type dueHeap []dueEntry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueEntry)) }
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// groupWaits is what planning one group left behind besides writes.
type groupWaits struct {
	wake  time.Time // look again then (its own timers only)
	echo  time.Time // waits for the echo of a renewal sent after this
	fresh bool      // waits for a fresh renewal of ours
	ranks bool      // its decision ranked the live candidates
	probe bool      // this node probes the group's holder (a suspect)
}

// touch marks a group (or a lease of no group) for the next pass.
func (c *core) touch(name string) { c.dirty[name] = struct{}{} }

// reindex keeps holders and byHolder in step with v's view; call it after
// anything that may change v.view().
func (c *core) reindex(name string, v *vipState) {
	h := ""
	if lv := v.view(); lv != nil {
		h = lv.holder
	}
	if h == v.indexed {
		return
	}
	if old := v.indexed; old != "" {
		if c.holders[old]--; c.holders[old] <= 0 {
			delete(c.holders, old)
		}
		delete(c.byHolder[old], name)
		if len(c.byHolder[old]) == 0 {
			delete(c.byHolder, old)
		}
	}
	if h != "" {
		c.holders[h]++
		if c.byHolder[h] == nil {
			c.byHolder[h] = map[string]struct{}{}
			defer c.armNode(h)
		}
		c.byHolder[h][name] = struct{}{}
	}
	v.indexed = h
}

// viewChanged is called where v's view may have changed.
func (c *core) viewChanged(name string, v *vipState) {
	if v.mine != nil {
		c.overrides[name] = struct{}{}
	} else {
		delete(c.overrides, name)
	}
	c.reindex(name, v)
	c.touch(name)
}

// waiting reports whether group's last plan left it waiting on something
// that a change of its holder's node lease may end.
func (c *core) waiting(group string) bool {
	if _, ok := c.waitClaim[group]; ok {
		return true
	}
	if _, ok := c.waitEcho[group]; ok {
		return true
	}
	if _, ok := c.waitFresh[group]; ok {
		return true
	}
	_, ok := c.waitSuspect[group]
	return ok
}

// nodeChanged wakes what a change of node's node lease (or of what the wire
// says of it) may decide differently: the groups it holds that were waiting
// on it. Groups it holds that were simply waiting for it to lapse need
// nothing: their thresholds move with the lease (nodeThresholds).
func (c *core) nodeChanged(node string, all bool) {
	for g := range c.byHolder[node] {
		if all || c.waiting(g) {
			c.touch(g)
		}
	}
}

// nodeDue is one threshold of a holder's node lease: the moment, counted
// from base (nodeBase when it was pushed), at which the decisions on its
// groups may change. A renewal moves base, which makes the older entries
// stale; they are skipped when popped.
type nodeDue struct {
	at   time.Time
	node string
	base time.Time
}

type nodeDueHeap []nodeDue

func (h nodeDueHeap) Len() int           { return len(h) }
func (h nodeDueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h nodeDueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nodeDueHeap) Push(x any)        { *h = append(*h, x.(nodeDue)) }
func (h *nodeDueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// armNode schedules node's thresholds (suspicion, the host and wire lapses,
// expiry) from its current base. Called when the base moves or node starts to hold.
func (c *core) armNode(node string) {
	if node == c.node || c.byHolder[node] == nil {
		return
	}
	base := c.nodeBase(node)
	heap.Push(&c.nodeDue, nodeDue{at: base.Add(c.t.NodeLeaseDuration), node: node, base: base})
	if c.wireCheck {
		heap.Push(&c.nodeDue, nodeDue{at: base.Add(c.t.WireSuspect), node: node, base: base})
		heap.Push(&c.nodeDue, nodeDue{at: base.Add(c.t.HostLapse), node: node, base: base})
		heap.Push(&c.nodeDue, nodeDue{at: base.Add(c.t.WireLapse), node: node, base: base})
	}
}

func (c *core) nodeDueValid(e nodeDue) bool {
	return c.byHolder[e.node] != nil && e.base.Equal(c.nodeBase(e.node))
}

// nodeThresholds wakes the groups of every holder whose node lease crossed
// one of its thresholds, and asks to be called at the next one. A renewal
// costs a push, not a look at the holder's groups.
func (c *core) nodeThresholds(p *planner) {
	for len(c.nodeDue) > 0 {
		e := c.nodeDue[0]
		valid := c.nodeDueValid(e)
		if valid && p.now.Before(e.at) {
			p.at(e.at)
			return
		}
		heap.Pop(&c.nodeDue)
		if valid {
			for g := range c.byHolder[e.node] {
				c.touch(g)
			}
		}
	}
}

// liveness compares every node's liveness with the snapshot the last pass
// left; a change wakes the groups whose decision ranked the candidates.
// Called at the start of a pass, before the groups are planned.
func (c *core) liveness(now time.Time) {
	if !c.liveValid {
		return
	}
	changed := c.unseenLive != (now.Sub(c.resumed) < c.t.IdleRenew+c.t.NodeLeaseDuration)
	for n := range c.nodes {
		if !changed && c.liveSeen[n] != c.live(n, now, c.holders) {
			changed = true
		}
	}
	if changed {
		for g := range c.waitClaim {
			c.touch(g)
		}
		for g := range c.waitSuspect {
			c.touch(g)
		}
	}
}

// snapLiveness records, at the end of a pass, the liveness the groups just
// planned saw, while any of them ranked the candidates; and asks to be
// called when the next live node would turn dead.
func (c *core) snapLiveness(p *planner) {
	c.liveValid = len(c.waitClaim)+len(c.waitSuspect) > 0
	if !c.liveValid {
		return
	}
	window := c.t.IdleRenew + c.t.NodeLeaseDuration
	c.unseenLive = p.now.Sub(c.resumed) < window
	if c.unseenLive {
		p.at(c.resumed.Add(window))
	}
	clear(c.liveSeen)
	for n := range c.nodes {
		l := c.live(n, p.now, c.holders)
		c.liveSeen[n] = l
		if l && n != c.node {
			w := window
			if c.holders[n] > 0 {
				w = c.t.NodeLeaseDuration
			}
			p.at(c.nodeBase(n).Add(w))
		}
	}
}

// popDue wakes the groups whose own timers are due.
func (c *core) popDue(now time.Time) {
	for len(c.due) > 0 && !now.Before(c.due[0].at) {
		e := heap.Pop(&c.due).(dueEntry)
		if at, ok := c.dueAt[e.name]; ok && at.Equal(e.at) {
			delete(c.dueAt, e.name)
			c.touch(e.name)
		}
	}
}

// nextDue returns the earliest live entry of the heap (zero: none),
// dropping stale ones on the way, and rebuilds the heap when stale entries
// outnumber live ones.
func (c *core) nextDue() time.Time {
	if len(c.due) > 2*len(c.dueAt)+64 {
		c.due = c.due[:0]
		for name, at := range c.dueAt {
			c.due = append(c.due, dueEntry{at: at, name: name})
		}
		heap.Init(&c.due)
	}
	for len(c.due) > 0 {
		e := c.due[0]
		if at, ok := c.dueAt[e.name]; ok && at.Equal(e.at) {
			return e.at
		}
		heap.Pop(&c.due)
	}
	return time.Time{}
}

// forget drops what the last plan of group left waiting.
func (c *core) forget(group string) {
	delete(c.dueAt, group)
	delete(c.waitClaim, group)
	delete(c.waitEcho, group)
	delete(c.waitFresh, group)
	if _, ok := c.waitSuspect[group]; ok {
		delete(c.waitSuspect, group)
		c.suspectsChanged = true
	}
}

// remember records what planning group left waiting.
func (c *core) remember(group string, w groupWaits) {
	if !w.wake.IsZero() {
		c.dueAt[group] = w.wake
		heap.Push(&c.due, dueEntry{at: w.wake, name: group})
	}
	if !w.echo.IsZero() {
		c.waitEcho[group] = w.echo
	}
	if w.fresh {
		c.waitFresh[group] = struct{}{}
	}
	if w.ranks {
		c.waitClaim[group] = struct{}{}
	}
}

// rankCache holds, for one group, the candidates ordered before this node
// by rendezvous hash, as indices into the group's Candidates; its rank among
// the live ones is then a count, with no hashing and no copy of the list.
type rankCache struct {
	above []int32
}

// rank is rankOf(c.node, name, live) where live is the group's candidates
// other than gone and this node that are live, plus this node.
func (c *core) rank(name string, spec GroupSpec, gone string, now time.Time) int {
	rc := c.ranks[name]
	if rc == nil {
		rc = &rankCache{}
		me := score(c.node, name)
		for i, n := range spec.Candidates {
			if n == c.node {
				continue
			}
			if s := score(n, name); s > me || s == me && n < c.node {
				rc.above = append(rc.above, int32(i))
			}
		}
		c.ranks[name] = rc
	}
	r := 0
	for _, i := range rc.above {
		if n := spec.Candidates[i]; n != gone && c.live(n, now, c.holders) {
			r++
		}
	}
	return r
}

// sameList reports whether a and b hold the same names, cheaply when they
// share their backing array (SetGroups interns candidate lists).
func sameList(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// wireNews wakes the groups of every holder the wire said something new
// about since the last pass (WireSilent, WireAlive, or a renewal erasing a
// report).
func (c *core) wireNews() {
	for n, t := range c.silent {
		if old, ok := c.silentSeen[n]; !ok || !old.since.Equal(t.since) || old.host != t.host {
			c.silentSeen[n] = t
			c.nodeChanged(n, true)
		}
	}
	for n := range c.silentSeen {
		if _, ok := c.silent[n]; !ok {
			delete(c.silentSeen, n)
			c.nodeChanged(n, true)
		}
	}
}
