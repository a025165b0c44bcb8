package election

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// This file is the decision core: plain Go, no client-go, no goroutines, no
// clock of its own. The Elector feeds it what the informer saw, what its
// writes returned and what the speaker asked for, each with the time on the
// injected clock, and performs the writes it plans. The randomised test
// drives the same core against an in-memory store, so every rule below runs
// under crashes, partitions and delays in microseconds.

// writeKind says what a planned API write does.
type writeKind int

const (
	// writeRenew creates or updates this node's node lease.
	writeRenew writeKind = iota
	// writeClaim makes this node the holder of a VIP lease (create when the
	// lease is absent, else an update conditional on its resourceVersion).
	writeClaim
	// writeRelease clears the holder of a VIP lease this node holds.
	writeRelease
	// writeRefresh rewrites the annotations of a VIP lease this node holds.
	writeRefresh
	// writeDelete deletes a VIP lease, conditional on its resourceVersion.
	writeDelete
	// writeDeleteNode deletes the node lease of a node long gone.
	writeDeleteNode
)

func (k writeKind) String() string {
	return [...]string{"renew", "claim", "release", "refresh", "delete", "deleteNode"}[k]
}

// write is one API write the core wants performed.
type write struct {
	kind writeKind
	name string // lease name
	// rv is the resourceVersion the write is conditional on; "" means the
	// lease is absent and a claim or renewal creates it.
	rv          string
	holder      string
	annotations map[string]string
	transitions int32
	reason      Reason
	sent        time.Time
}

// outcome classifies a write's result the way the protocol cares about.
type outcome int

const (
	outcomeOK outcome = iota
	// outcomeConflict: the lease changed since we read it (Conflict,
	// AlreadyExists, NotFound). Re-read from the cache, never retry blindly.
	outcomeConflict
	// outcomeFailed: the API server could not be reached or refused for
	// another reason; the write may or may not have happened.
	outcomeFailed
)

// leaseView is what the core needs to know of one Lease.
type leaseView struct {
	rv          string
	holder      string
	annotations map[string]string
	transitions int32
}

// override is the result of our own successful write, used instead of the
// cache until the watch delivers that version, or delivers the echo of a
// renewal we sent after the write was answered (a re-list may skip our
// version; the echo proves the cache caught up anyway).
type override struct {
	view *leaseView // nil: we deleted the lease
	at   time.Time
}

// vipState is everything the core tracks about one VIP lease name.
type vipState struct {
	cache    *leaseView // nil: absent from the cache
	seen     time.Time  // when the cache last changed, on our clock
	mine     *override
	inflight bool
	blocked  bool // after a conflict or fencing: wait for the cache to change
	blockRV  string
	// blockOwnRV is our own last write when fenced: the watch may echo it
	// after the fencing, and that echo (still naming us) is no news.
	blockOwnRV string
	blockUntil time.Time
	retryAt    time.Time // after a failed write
	// conflicts counts the conflicts in a row on the same version
	// (conflictRV): the cache showed nothing newer in between.
	conflicts      int
	conflictRV     string
	claimableSince time.Time // zero: not claimable now
	// indexed is the holder core.holders and core.byHolder count this
	// lease under (reindex).
	indexed string
}

func (v *vipState) view() *leaseView {
	if v.mine != nil {
		return v.mine.view
	}
	return v.cache
}

func (v *vipState) cacheRV() string {
	if v.cache == nil {
		return ""
	}
	return v.cache.rv
}

// nodeState is what the informer showed of one node lease.
type nodeState struct {
	exists   bool
	deleting bool // a writeDeleteNode is in flight
	rv       string
	// changed is when we last saw the lease change (or first saw it, or saw
	// it vanish), on our clock. Expiry is judged from this alone, never from
	// the renewTime another node wrote.
	changed time.Time
}

// ownLease tracks this node's own node lease.
type ownLease struct {
	rv       string // resourceVersion to write with; "" creates
	inflight bool
	lastSent time.Time // last attempt
	okSent   time.Time // send time of the last successful renewal
	okOnce   bool
	failing  bool
	// failedAfter is okSent when the renewals started failing (zero if
	// none had succeeded): the trouble began after it.
	failedAfter time.Time
	// sends maps the resourceVersions our renewals produced to when each
	// was sent; seeing one of them come back through the watch (its echo)
	// proves the watch delivered everything committed before it.
	sends    map[string]time.Time
	order    []string
	echoSent time.Time // send time of the newest renewal whose echo we saw
	// period is the renewal period the last plan chose (renewPeriod).
	period time.Duration
	// retry: the last renewal met a conflict after one that did not, and
	// goes again at once with the version re-read. A conflict in a row
	// waits for the period, so two writers of one node lease cannot spin.
	retry      bool
	conflicted bool // the last renewal was answered with a conflict
}

// heldGroup is a group this node holds.
type heldGroup struct {
	since time.Time
	rv    string
}

// noteKind says what happened, for the Elector's logs and metrics.
type noteKind int

const (
	noteWon     noteKind = iota // we became holder (reason: new, released, expired, adopted)
	noteLost                    // our claim lost a race (conflict)
	noteDropped                 // we stopped holding (reason: notCandidate, fenced, superseded, removed, shutdown)
	noteResumed                 // our node lease renewal succeeded again after failures
	noteFailing                 // our node lease renewal started failing
)

type note struct {
	kind    noteKind
	group   string
	reason  Reason
	latency time.Duration // noteWon: from claimable to won
}

// core holds the election state of one node. It is not safe for concurrent
// use: the Elector's loop owns it.
type core struct {
	node string
	t    Timing // with defaults applied

	synced    bool
	stopping  bool
	groupsSet bool
	groups    map[string]GroupSpec

	vips  map[string]*vipState
	nodes map[string]*nodeState
	// resumed is when we (re)started watching with working connectivity:
	// nobody is judged expired until a full node-lease duration after it,
	// so a re-list after an outage causes no handover storm.
	resumed time.Time
	// troubleFrom is when the trouble that ended at resumed began at the
	// earliest (the send time of our last renewal that succeeded before our
	// renewals failed); zero when unknown (a re-list), which gives every
	// node the quiet period.
	troubleFrom time.Time

	own  ownLease
	held map[string]heldGroup

	// wireCheck turns on the wire check: suspects are reported for probing
	// and a holder silent on the wire may be taken after WireLapse.
	wireCheck bool
	// silent maps a node to the speaker's last report that it is silent on
	// the wire (WireSilent). A reply (WireAlive) or a change of its node
	// lease removes it.
	silent map[string]silence
	// suspects is the last plan's list of holders to probe.
	suspects []Suspect

	heldChanged bool
	notes       []note

	// Incremental planning (incremental.go): plan looks only at the
	// groups marked dirty, whose own timers are due, or whose holder's
	// thresholds passed.
	dirty    map[string]struct{}
	allDirty bool
	due      dueHeap
	nodeDue  nodeDueHeap
	dueAt    map[string]time.Time
	lastEcho time.Time
	// holders counts the VIP leases whose view names each node;
	// byHolder lists them.
	holders  map[string]int
	byHolder map[string]map[string]struct{}
	// overrides are the VIP leases with an override (vipState.mine).
	overrides map[string]struct{}
	// orphans are the VIP leases of no group, collected each pass.
	orphans map[string]struct{}
	// What the groups' last plans wait for.
	waitClaim   map[string]struct{}  // ranked the live candidates
	waitEcho    map[string]time.Time // an echo of a renewal sent after this
	waitFresh   map[string]struct{}  // a fresh renewal of ours
	waitSuspect map[string]bool      // judged a suspect holder; true: we probe it
	// suspectsChanged: rebuild suspects from waitSuspect.
	suspectsChanged bool
	liveSeen        map[string]bool // liveness at the end of the last pass, if liveValid
	liveValid       bool
	silentSeen      map[string]silence
	unseenLive      bool
	ranks           map[string]*rankCache
	// fullPlan plans every group on every pass, as before the bookkeeping
	// existed: the reference the incremental plan is tested against.
	fullPlan bool
}

func newCore(node string, t Timing) *core {
	return &core{
		node:   node,
		t:      t,
		vips:   map[string]*vipState{},
		nodes:  map[string]*nodeState{},
		held:   map[string]heldGroup{},
		own:    ownLease{sends: map[string]time.Time{}},
		silent: map[string]silence{},

		dirty:       map[string]struct{}{},
		dueAt:       map[string]time.Time{},
		holders:     map[string]int{},
		byHolder:    map[string]map[string]struct{}{},
		overrides:   map[string]struct{}{},
		orphans:     map[string]struct{}{},
		waitClaim:   map[string]struct{}{},
		waitEcho:    map[string]time.Time{},
		waitFresh:   map[string]struct{}{},
		waitSuspect: map[string]bool{},
		liveSeen:    map[string]bool{},
		silentSeen:  map[string]silence{},
		ranks:       map[string]*rankCache{},
	}
}

func (c *core) note(n note) { c.notes = append(c.notes, n) }

func (c *core) vip(name string) *vipState {
	v := c.vips[name]
	if v == nil {
		v = &vipState{}
		c.vips[name] = v
		if _, ok := c.groups[name]; !ok {
			c.orphans[name] = struct{}{}
		}
	}
	return v
}

// markSynced is called once the informer has delivered its initial list.
func (c *core) markSynced(now time.Time) {
	if c.synced {
		return
	}
	c.synced = true
	c.resumed = now
	c.allDirty = true
}

// relisted is called when the informer re-listed (after a watch failure):
// what it shows may be the first news in a long time, so give every node a
// full duration to show it is alive.
func (c *core) relisted(now time.Time) {
	if c.synced {
		c.resumed, c.troubleFrom = now, time.Time{}
		c.allDirty = true
	}
}

// observeNode records what the informer shows of node's node lease (lv nil:
// deleted).
func (c *core) observeNode(node string, lv *leaseView, now time.Time) {
	n := c.nodes[node]
	if n == nil {
		n = &nodeState{changed: now}
		c.nodes[node] = n
	}
	rv := ""
	if lv != nil {
		rv = lv.rv
	}
	if n.exists != (lv != nil) || n.rv != rv {
		n.changed = now
		// The node renewed: whatever the wire said is about a lapse that
		// is over.
		delete(c.silent, node)
		c.nodeChanged(node, false)
		c.armNode(node)
	}
	n.exists, n.rv = lv != nil, rv
	if node != c.node {
		return
	}
	if lv == nil {
		if !c.own.inflight {
			c.own.rv = ""
		}
		return
	}
	if sent, ok := c.own.sends[lv.rv]; ok {
		if sent.After(c.own.echoSent) {
			c.own.echoSent = sent
		}
	} else if !c.own.inflight {
		// Written by a previous run of this speaker (or, wrongly, by
		// another process using our node name): write on top of it.
		c.own.rv = lv.rv
	}
}

// observeVIP records what the informer shows of a VIP lease (lv nil:
// deleted).
func (c *core) observeVIP(name string, lv *leaseView, now time.Time) {
	v := c.vip(name)
	if (v.cache == nil) != (lv == nil) || (lv != nil && v.cache.rv != lv.rv) || v.seen.IsZero() {
		v.seen = now
	}
	v.cache = lv
	if v.mine != nil {
		m := v.mine.view
		if (m == nil && lv == nil) || (m != nil && lv != nil && m.rv == lv.rv) {
			v.mine = nil
		}
	}
	c.viewChanged(name, v)
}

// setGroups replaces the set of groups that exist.
func (c *core) setGroups(specs []GroupSpec) {
	old := c.groups
	c.groups = make(map[string]GroupSpec, len(specs))
	for _, s := range specs {
		c.groups[s.Name] = s
	}
	for name, s := range c.groups {
		o, ok := old[name]
		if !ok || !sameList(o.Candidates, s.Candidates) {
			delete(c.ranks, name)
		}
		if !ok || o.Candidate != s.Candidate || o.Reason != s.Reason || !sameList(o.Candidates, s.Candidates) ||
			!maps.Equal(o.Annotations, s.Annotations) {
			c.touch(name)
		}
	}
	for name := range old {
		if _, ok := c.groups[name]; !ok {
			delete(c.ranks, name)
			c.forget(name)
			c.touch(name)
		}
	}
	clear(c.orphans)
	for name := range c.vips {
		if _, ok := c.groups[name]; !ok {
			c.orphans[name] = struct{}{}
		}
	}
	if !c.groupsSet {
		c.allDirty = true
	}
	c.groupsSet = true
}

// lost is the speaker's fencing signal: a successor announced group on the
// wire. Stop holding it now and let the watch catch up before deciding
// anything about it again.
func (c *core) lost(group string, now time.Time) {
	if _, ok := c.held[group]; !ok {
		return
	}
	own := c.held[group].rv
	c.drop(group, ReasonFenced)
	v := c.vip(group)
	v.mine = nil
	v.blocked, v.blockRV, v.blockOwnRV, v.blockUntil = true, v.cacheRV(), own, now.Add(c.t.NodeLeaseDuration)
	c.viewChanged(group, v)
}

// stillBlocked reports whether v's block holds: the cache shows nothing
// newer than what blocked it (or our own write's late echo).
func (v *vipState) stillBlocked() bool {
	rv := v.cacheRV()
	return v.blocked && (rv == v.blockRV || (v.blockOwnRV != "" && rv == v.blockOwnRV))
}

func (c *core) drop(group string, reason Reason) {
	if _, ok := c.held[group]; !ok {
		return
	}
	delete(c.held, group)
	c.heldChanged = true
	c.note(note{kind: noteDropped, group: group, reason: reason})
}

// nodeBase is the moment from which node's lease is judged: the last change
// we saw, but never before we resumed watching — unless the lease had
// already gone unchanged for a full duration before our trouble began: our
// trouble cannot be why it stopped changing, and a quiet period for it would
// only delay its takeover. Under an API server that answers some renewals
// late or with 429, every speaker resumes every few seconds, and without
// this no dead node is ever judged expired (the scale benchmark's power
// cut at 100 × 5,000: its groups unheld after 5 minutes).
func (c *core) nodeBase(node string) time.Time {
	b := c.resumed
	if n := c.nodes[node]; n != nil {
		if n.changed.After(b) || !c.troubleFrom.IsZero() && !n.changed.Add(c.t.NodeLeaseDuration).After(c.troubleFrom) {
			b = n.changed
		}
	}
	return b
}

// expired reports whether holder's node lease has not been seen to change
// for a full duration. It also demands that the watch has echoed one of our
// own renewals sent after that point: everything committed before our
// renewal was delivered before its echo, so a lagging watch cannot make a
// live node look dead. When not expired it returns when to look again, or
// echoAfter: the time after which a renewal of ours must have been sent.
func (c *core) expired(holder string, now time.Time) (exp bool, again, echoAfter time.Time) {
	at := c.nodeBase(holder).Add(c.t.NodeLeaseDuration)
	if now.Before(at) {
		return false, at, time.Time{}
	}
	if c.own.echoSent.Before(at) {
		return false, time.Time{}, at
	}
	return true, time.Time{}, time.Time{}
}

// silence is a report that a node answered none of the probes sent to it
// since since (the first of them, on our clock); host says that its node's
// own address was probed too, every time, and did not answer either.
type silence struct {
	since time.Time
	host  bool
}

// wireSilent records the speaker's report that node has not answered the
// probes it sent since since; the latest report counts.
func (c *core) wireSilent(node string, since time.Time, host bool) {
	if old, ok := c.silent[node]; !ok || !since.Before(old.since) {
		c.silent[node] = silence{since: since, host: host}
	}
}

// wireAlive records that node answered a probe: it is alive on the wire and
// keeps the full lapse rule until it is reported silent again.
func (c *core) wireAlive(node string) { delete(c.silent, node) }

// suspect reports whether holder has missed a renewal: its node lease has
// not been seen to change for WireSuspect, but it is not expired yet.
func (c *core) suspect(holder string, now time.Time) bool {
	base := c.nodeBase(holder)
	return !now.Before(base.Add(c.t.WireSuspect)) && now.Before(base.Add(c.t.NodeLeaseDuration))
}

// wireGone is the wire check's rule, the only place the wire shortens a
// wait: holder may be taken once the speaker reported it silent on the wire
// with probes all sent after it had missed a renewal (at or after
// WireSuspect), no answer since, and its node lease has not been seen to
// change for WireLapse, or for HostLapse when its node's own address was
// silent too (its kernel answers that, so a paused speaker is no dead
// node). Like expired it demands the echo of a renewal of ours sent after
// that point, so a lagging watch cannot make a renewing holder look silent.
// Without a report it says nothing (again and echoAfter zero): the full
// lapse applies.
func (c *core) wireGone(holder string, now time.Time) (gone bool, again, echoAfter time.Time) {
	if !c.wireCheck {
		return false, time.Time{}, time.Time{}
	}
	rep, ok := c.silent[holder]
	base := c.nodeBase(holder)
	if !ok || rep.since.Before(base.Add(c.t.WireSuspect)) {
		return false, time.Time{}, time.Time{}
	}
	at := base.Add(c.t.WireLapse)
	if rep.host {
		at = base.Add(c.t.HostLapse)
	}
	if now.Before(at) {
		return false, at, time.Time{}
	}
	if c.own.echoSent.Before(at) {
		return false, time.Time{}, at
	}
	return true, time.Time{}, time.Time{}
}

// live reports whether node counts for ranking. A node holding a VIP lease
// renews every renew period, so it is live while its lease changed within
// one duration; a node holding nothing renews only every idle period, so it
// gets idle+duration. A dead idle node thus costs the nodes ranked below it
// one rank step each, for at most idle+duration.
func (c *core) live(node string, now time.Time, holders map[string]int) bool {
	if node == c.node {
		return true
	}
	n := c.nodes[node]
	if n == nil {
		// Never seen: at a cold start no speaker has written its node
		// lease yet, so give it the benefit of the doubt until an idle
		// speaker would have shown up; otherwise every node ranks itself
		// first and the fastest takes every group.
		return now.Sub(c.resumed) < c.t.IdleRenew+c.t.NodeLeaseDuration
	}
	if !n.exists {
		return false
	}
	window := c.t.IdleRenew + c.t.NodeLeaseDuration
	if holders[node] > 0 {
		window = c.t.NodeLeaseDuration
	}
	return now.Sub(c.nodeBase(node)) < window
}

// ownFresh reports whether our node lease was renewed recently enough that
// a claim made now will not look expired to the others.
func (c *core) ownFresh(now time.Time) bool {
	return c.own.okOnce && !c.own.failing && now.Sub(c.own.okSent) < c.t.NodeLeaseDuration/2
}

// planner accumulates one plan.
type planner struct {
	now       time.Time
	writes    []write
	wake      time.Time
	needFresh bool      // a claim waits for a fresh renewal of ours
	echoAfter time.Time // a judgement waits for an echo of a renewal sent after this
	holders   map[string]int
	full      bool // c.fullPlan
	// group, while one group is planned, collects what it waits for:
	// its wake goes to the due heap, not to the pass's wake.
	group *groupWaits
}

func (p *planner) at(t time.Time) {
	if g := p.group; g != nil {
		if !t.IsZero() && (g.wake.IsZero() || t.Before(g.wake)) {
			g.wake = t
		}
		return
	}
	if !t.IsZero() && (p.wake.IsZero() || t.Before(p.wake)) {
		p.wake = t
	}
}

// atNode is at for a time that follows a holder's node lease: while a group
// is planned it is left to the holder's thresholds (nodeThresholds), which
// move with each renewal instead of waking the group for nothing.
func (p *planner) atNode(t time.Time) {
	if p.group == nil || p.full {
		p.at(t)
	}
}

func (p *planner) wantEcho(t time.Time) {
	if g := p.group; g != nil {
		if !t.IsZero() && (g.echo.IsZero() || t.After(g.echo)) {
			g.echo = t
		}
		return
	}
	if !t.IsZero() && (p.echoAfter.IsZero() || t.After(p.echoAfter)) {
		p.echoAfter = t
	}
}

func (p *planner) fresh() {
	if p.group != nil {
		p.group.fresh = true
		return
	}
	p.needFresh = true
}

// plan returns the writes to start now and when to call plan again at the
// latest (zero: only when something happens). It plans only the groups whose
// inputs changed or whose time came (incremental.go); c.fullPlan plans them
// all.
func (c *core) plan(now time.Time) ([]write, time.Time) {
	if !c.synced {
		return nil, time.Time{}
	}
	p := &planner{now: now, holders: c.holders, full: c.fullPlan}
	if c.own.echoSent != c.lastEcho {
		// Once the watch has echoed a renewal of ours sent after our
		// write was answered, the cache holds our write or something
		// newer: trust it again. A stalled watch keeps the override, so
		// it cannot make us drop what we hold.
		c.lastEcho = c.own.echoSent
		for name := range c.overrides {
			if v := c.vips[name]; v.mine != nil && !c.own.echoSent.Before(v.mine.at) {
				v.mine = nil
				c.viewChanged(name, v)
			}
		}
		for name := range c.waitEcho {
			c.touch(name)
		}
	}
	c.popDue(now)
	c.wireNews()
	if c.allDirty {
		// The base of every node may have moved (we resumed watching).
		for n := range c.byHolder {
			c.armNode(n)
		}
	}
	c.nodeThresholds(p)
	if c.allDirty || c.fullPlan {
		for name := range c.groups {
			c.touch(name)
		}
		for name := range c.held {
			c.touch(name)
		}
		c.allDirty = false
	}
	for name := range c.dirty {
		if v := c.vips[name]; v != nil && v.mine != nil && !c.own.echoSent.Before(v.mine.at) {
			v.mine = nil
			c.viewChanged(name, v)
		}
	}
	c.liveness(now)
	names := make([]string, 0, len(c.dirty))
	for name := range c.dirty {
		names = append(names, name)
	}
	sort.Strings(names)
	// Held() follows the leases: a group whose lease no longer names us
	// is not ours, whoever changed it.
	for _, g := range names {
		if _, ok := c.held[g]; !ok {
			continue
		}
		if lv := c.vip(g).view(); lv == nil || lv.holder != c.node {
			c.drop(g, ReasonSuperseded)
		}
	}
	if c.groupsSet && !c.stopping {
		for _, name := range names {
			if spec, ok := c.groups[name]; ok {
				c.forget(name)
				w := groupWaits{}
				p.group = &w
				c.planGroup(p, name, spec)
				p.group = nil
				c.remember(name, w)
			}
		}
		clear(c.dirty)
		c.planGC(p)
	}
	p.needFresh = p.needFresh || len(c.waitFresh) > 0
	for _, t := range c.waitEcho {
		p.wantEcho(t)
	}
	if !c.stopping {
		c.planRenew(p)
	}
	if c.suspectsChanged {
		c.suspectsChanged = false
		c.suspects = c.suspects[:0:0]
		for g, probe := range c.waitSuspect {
			if lv := c.vip(g).view(); probe && lv != nil {
				c.suspects = append(c.suspects, Suspect{Node: lv.holder, Group: g})
			}
		}
		sort.Slice(c.suspects, func(i, j int) bool {
			a, b := c.suspects[i], c.suspects[j]
			return a.Node < b.Node || a.Node == b.Node && a.Group < b.Group
		})
	}
	c.snapLiveness(p)
	p.at(c.nextDue())
	return p.writes, p.wake
}

// ready reports whether the lease may be written now, else records when to
// look again.
func (c *core) ready(p *planner, v *vipState) bool {
	if v.inflight {
		return false
	}
	if v.blocked {
		if v.stillBlocked() && p.now.Before(v.blockUntil) {
			p.at(v.blockUntil)
			return false
		}
		v.blocked, v.blockOwnRV = false, ""
	}
	if p.now.Before(v.retryAt) {
		p.at(v.retryAt)
		return false
	}
	return true
}

func (c *core) start(p *planner, v *vipState, w write) {
	w.sent = p.now
	v.inflight = true
	p.writes = append(p.writes, w)
}

func (c *core) planGroup(p *planner, name string, spec GroupSpec) {
	v := c.vip(name)
	if !c.ready(p, v) {
		return
	}
	lv := v.view()
	_, held := c.held[name]
	if !spec.Candidate {
		v.claimableSince = time.Time{}
		reason := ReasonNotCandidate
		if spec.Reason != "" {
			reason = spec.Reason
		}
		c.drop(name, reason)
		if lv != nil && lv.holder == c.node {
			c.start(p, v, c.releaseOf(name, lv, reason))
		}
		return
	}
	if held {
		if !maps.Equal(lv.annotations, spec.Annotations) {
			c.start(p, v, write{kind: writeRefresh, name: name, rv: lv.rv, holder: c.node,
				annotations: spec.Annotations, transitions: lv.transitions, reason: ReasonAnnotations})
		}
		return
	}
	if lv != nil && lv.holder == c.node {
		// The lease names us but we do not hold it (a restart, or a claim
		// whose answer we never got): hold it only once a conditional
		// rewrite succeeds.
		if !c.ownFresh(p.now) {
			p.fresh()
			return
		}
		c.start(p, v, write{kind: writeClaim, name: name, rv: lv.rv, holder: c.node,
			annotations: spec.Annotations, transitions: lv.transitions, reason: ReasonAdopted})
		return
	}
	var reason Reason
	var gone string
	switch {
	case lv == nil:
		reason = ReasonNew
	case lv.holder == "":
		// The node that released it is still live but will not claim
		// it back: rank without it, so the next node claims at once.
		reason, gone = ReasonReleased, lv.annotations[AnnotationReleasedBy]
	default:
		exp, again, echo := c.expired(lv.holder, p.now)
		reason, gone = ReasonExpired, lv.holder
		if !exp {
			silent, wagain, wecho := c.wireGone(lv.holder, p.now)
			if !silent {
				v.claimableSince = time.Time{}
				p.atNode(again)
				p.wantEcho(echo)
				p.atNode(wagain)
				p.wantEcho(wecho)
				c.planSuspect(p, name, spec, lv.holder)
				return
			}
			reason = ReasonWireSilent
		}
	}
	if v.claimableSince.IsZero() {
		v.claimableSince = p.now
	}
	rank := c.rank(name, spec, gone, p.now)
	readyAt := v.claimableSince.Add(time.Duration(rank) * c.t.RankStep)
	if p.now.Before(readyAt) {
		p.at(readyAt)
		if p.group != nil {
			p.group.ranks = true
		}
		return
	}
	// A node ranked below others claims only once its watch has echoed a
	// renewal of ours sent after its turn came: everything committed before
	// that renewal, the claim of a node ranked above included, has then been
	// delivered. Without it a lagging watch (thousands of groups appearing
	// at once) sends Creates and Updates that can only fail, from every
	// candidate, for every group. It costs a lower-ranked claim one renewal's
	// round trip; the top-ranked node, the usual claimant, does not wait.
	if rank > 0 && c.own.echoSent.Before(readyAt) {
		p.wantEcho(readyAt)
		if p.group != nil {
			p.group.ranks = true // a rank of 0 would not wait
		}
		return
	}
	if !c.ownFresh(p.now) {
		p.fresh()
		return
	}
	w := write{kind: writeClaim, name: name, holder: c.node, annotations: spec.Annotations, reason: reason}
	if lv != nil {
		w.rv, w.transitions = lv.rv, lv.transitions+1
	}
	c.start(p, v, w)
}

// planSuspect adds holder to the plan's suspects when it has missed a
// renewal and this node is the top-ranked live candidate to succeed it, so
// that one node, not every candidate, probes it; and wakes the plan when it
// becomes suspect.
func (c *core) planSuspect(p *planner, name string, spec GroupSpec, holder string) {
	if !c.wireCheck || !spec.Candidate {
		return
	}
	if !c.suspect(holder, p.now) {
		if at := c.nodeBase(holder).Add(c.t.WireSuspect); p.now.Before(at) {
			p.atNode(at)
		}
		return
	}
	// Who probes depends on who is live: look again when that changes.
	probe := c.rank(name, spec, holder, p.now) == 0
	c.waitSuspect[name] = probe
	if !probe {
		return
	}
	c.suspectsChanged = true
	// The suspicion ends at expiry at the latest.
	p.atNode(c.nodeBase(holder).Add(c.t.NodeLeaseDuration))
}

func (c *core) releaseOf(name string, lv *leaseView, reason Reason) write {
	a := maps.Clone(lv.annotations)
	if a == nil {
		a = map[string]string{}
	}
	a[AnnotationReleasedBy] = c.node
	return write{kind: writeRelease, name: name, rv: lv.rv, annotations: a,
		transitions: lv.transitions, reason: reason}
}

// planGC deletes the leases of groups that do not exist: our own at once,
// released or orphaned ones by the live node with the lowest name.
func (c *core) planGC(p *planner) {
	for _, name := range slices.Sorted(maps.Keys(c.orphans)) {
		v := c.vips[name]
		lv := v.view()
		if lv == nil {
			c.drop(name, ReasonRemoved)
			if v.cache == nil && v.mine == nil && !v.inflight {
				delete(c.vips, name)
				delete(c.orphans, name)
				delete(c.overrides, name)
				delete(c.dueAt, name)
			}
			continue
		}
		if !c.ready(p, v) {
			continue
		}
		if lv.holder == c.node {
			c.drop(name, ReasonRemoved)
			c.start(p, v, write{kind: writeDelete, name: name, rv: lv.rv, reason: ReasonRemoved})
			continue
		}
		if !c.own.okOnce || c.own.failing {
			continue
		}
		if end := v.seen.Add(c.t.NodeLeaseDuration); p.now.Before(end) {
			p.at(end)
			continue
		}
		if !c.lowestLive(p) {
			continue
		}
		if lv.holder != "" {
			exp, again, echo := c.expired(lv.holder, p.now)
			if !exp {
				p.at(again)
				p.wantEcho(echo)
				continue
			}
		}
		c.start(p, v, write{kind: writeDelete, name: name, rv: lv.rv, reason: ReasonOrphaned})
	}
	c.planNodeGC(p)
}

// maxConflictBackoff caps the doubling of the wait after conflicts in a row
// on one version: 2^(4-1) = 8 node-lease durations.
const maxConflictBackoff = 4

// nodeLeaseGCAfter is how long a node lease must stay unchanged, on our
// clock, before the lowest live node deletes it: the node is gone for
// good, or its speaker will simply create the lease again.
const nodeLeaseGCAfter = time.Hour

// planNodeGC deletes node leases of nodes long gone that no VIP lease
// names.
func (c *core) planNodeGC(p *planner) {
	if !c.own.okOnce || c.own.failing || !c.lowestLive(p) {
		return
	}
	var names []string
	for n, st := range c.nodes {
		if n != c.node && st.exists && p.holders[n] == 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		st := c.nodes[n]
		if st.deleting {
			continue
		}
		if end := c.nodeBase(n).Add(nodeLeaseGCAfter); p.now.Before(end) {
			p.at(end)
			continue
		}
		// A conflict or failure needs no memory: the lease changed (the
		// node is back) or we try again on the next plan after a while.
		st.deleting = true
		p.writes = append(p.writes, write{kind: writeDeleteNode, name: NodeLeaseName(n), rv: st.rv,
			reason: ReasonNodeGone, sent: p.now})
	}
}

// lowestLive reports whether no live node has a lower name than ours.
func (c *core) lowestLive(p *planner) bool {
	if c.own.failing {
		return false
	}
	for n := range c.nodes {
		if n < c.node && c.live(n, p.now, p.holders) {
			return false
		}
	}
	return true
}

// renewPeriod is how often the node lease is due under plan p: fast while
// any lease names us, held or not yet (an adoption or release pending), as
// the others judge those leases by our node lease, and while a claim or a
// judgement waits for a renewal of ours; slow otherwise. It is the one rule:
// the Elector's Healthy expects renewals at the period it last chose.
func (c *core) renewPeriod(p *planner) time.Duration {
	if len(c.held) > 0 || p.holders[c.node] > 0 || p.needFresh || !p.echoAfter.IsZero() {
		return c.t.NodeLeaseRenew
	}
	return c.t.IdleRenew
}

func (c *core) planRenew(p *planner) {
	o := &c.own
	o.period = c.renewPeriod(p)
	if o.inflight {
		return
	}
	period := o.period
	next := o.lastSent.Add(period)
	due := o.lastSent.IsZero() || !p.now.Before(next) || o.retry
	if !o.failing {
		if p.needFresh && !c.ownFresh(p.now) {
			due = true
		}
		if !p.echoAfter.IsZero() && o.lastSent.Before(p.echoAfter) {
			due = true
		}
	} else if fast := o.lastSent.Add(c.t.NodeLeaseRenew); fast.Before(next) {
		// Keep trying at the fast rate, so we are back soon after an outage.
		next = fast
		due = due || !p.now.Before(fast)
	}
	if !due {
		p.at(next)
		return
	}
	o.inflight, o.retry = true, false
	o.lastSent = p.now
	p.writes = append(p.writes, write{kind: writeRenew, name: NodeLeaseName(c.node), rv: o.rv,
		holder: c.node, sent: p.now})
}

// done records the outcome of a write planned earlier; rv is the new
// resourceVersion on success, and for a renewal's conflict the node lease's
// current resourceVersion re-read from the API server ("" if unknown).
func (c *core) done(w write, out outcome, rv string, now time.Time) {
	switch w.kind {
	case writeRenew:
		c.renewDone(w, out, rv, now)
		return
	case writeDeleteNode:
		if n := c.nodes[strings.TrimPrefix(w.name, NodeLeasePrefix)]; n != nil {
			n.deleting = false
			if out == outcomeFailed {
				// Not before another full GC period: this is housekeeping.
				n.changed = now
				c.armNode(strings.TrimPrefix(w.name, NodeLeasePrefix))
			}
		}
		return
	}
	v := c.vip(w.name)
	v.inflight = false
	defer c.viewChanged(w.name, v)
	switch out {
	case outcomeConflict:
		v.mine = nil
		// Conflict after conflict on the version our cache shows: the
		// cache is behind (a watch that lags or re-lists), so writing
		// again every duration only loads the API server; double the
		// wait each time, up to 8 durations. A newer version in the
		// cache ends the wait at once, as before.
		if v.conflicts > 0 && v.conflictRV == w.rv {
			v.conflicts = min(v.conflicts+1, maxConflictBackoff)
		} else {
			v.conflicts, v.conflictRV = 1, w.rv
		}
		wait := c.t.NodeLeaseDuration << (v.conflicts - 1)
		v.blocked, v.blockRV, v.blockOwnRV, v.blockUntil = true, w.rv, "", now.Add(wait)
		switch w.kind {
		case writeClaim:
			c.note(note{kind: noteLost, group: w.name, reason: w.reason})
		case writeRefresh:
			// Someone wrote the lease we hold since we last read it: by
			// the lease rules it is no longer ours.
			c.drop(w.name, ReasonSuperseded)
		}
		return
	case outcomeFailed:
		v.retryAt = now.Add(c.t.NodeLeaseRenew)
		return
	}
	v.conflicts = 0
	switch w.kind {
	case writeClaim, writeRefresh, writeRelease:
		lv := &leaseView{rv: rv, holder: w.holder, annotations: w.annotations, transitions: w.transitions}
		v.mine = &override{view: lv, at: now}
		if w.kind == writeRelease {
			return
		}
		if w.kind == writeRefresh {
			if h, ok := c.held[w.name]; ok {
				h.rv = rv
				c.held[w.name] = h
			}
			return
		}
		if _, ok := c.held[w.name]; !ok {
			c.held[w.name] = heldGroup{since: now, rv: rv}
			c.heldChanged = true
			var lat time.Duration
			if !v.claimableSince.IsZero() {
				lat = now.Sub(v.claimableSince)
			}
			c.note(note{kind: noteWon, group: w.name, reason: w.reason, latency: lat})
		}
		v.claimableSince = time.Time{}
	case writeDelete:
		v.mine = &override{at: now}
	}
}

func (c *core) renewDone(w write, out outcome, rv string, now time.Time) {
	o := &c.own
	o.inflight = false
	for g := range c.waitFresh {
		c.touch(g)
	}
	again := !o.conflicted // a first conflict in a row is retried at once
	o.conflicted = out == outcomeConflict
	switch out {
	case outcomeOK:
		o.rv = rv
		o.sends[rv] = w.sent
		o.order = append(o.order, rv)
		if len(o.order) > 16 {
			delete(o.sends, o.order[0])
			o.order = o.order[1:]
		}
		o.okSent, o.okOnce = w.sent, true
		if o.failing {
			o.failing = false
			c.resumed, c.troubleFrom = now, o.failedAfter
			c.allDirty = true
			c.note(note{kind: noteResumed})
		}
		if n := c.nodes[c.node]; n != nil && n.exists && n.rv == rv && w.sent.After(o.echoSent) {
			o.echoSent = w.sent
		}
	case outcomeConflict:
		// rv is what the API server holds now, re-read after the
		// conflict: our cache may be the reason for it (a renewal whose
		// answer was lost while the watch is behind), and renewing with
		// its stale version would fail until the watch caught up, while
		// the others watch our node lease stop changing.
		o.rv = rv
		if rv == "" {
			if n := c.nodes[c.node]; n != nil && n.exists {
				o.rv = n.rv
			}
		}
		// Waiting a whole period would leave our node lease unchanged
		// for it, and the echo a takeover waits for later by as much.
		o.retry = again
	case outcomeFailed:
		if !o.failing {
			c.note(note{kind: noteFailing})
			o.failedAfter = time.Time{}
			if o.okOnce {
				o.failedAfter = o.okSent
			}
		}
		o.failing = true
	}
}

// shutdown stops claiming and plans the release of every group whose lease
// names us. Call it again after each result until it returns nothing and
// nothing is in flight.
func (c *core) shutdown(now time.Time) []write {
	c.stopping = true
	var ws []write
	names := make([]string, 0, len(c.vips))
	for name := range c.vips {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := c.vips[name]
		c.drop(name, ReasonShutdown)
		lv := v.view()
		if v.inflight || lv == nil || lv.holder != c.node {
			continue
		}
		if v.stillBlocked() {
			continue
		}
		w := c.releaseOf(name, lv, ReasonShutdown)
		w.sent = now
		v.inflight = true
		ws = append(ws, w)
	}
	return ws
}

// inflight reports how many writes are outstanding.
func (c *core) inflight() int {
	n := 0
	if c.own.inflight {
		n++
	}
	for _, v := range c.vips {
		if v.inflight {
			n++
		}
	}
	for _, st := range c.nodes {
		if st.deleting {
			n++
		}
	}
	return n
}

// heldList returns the groups held, sorted by name.
func (c *core) heldList() []Held {
	out := make([]Held, 0, len(c.held))
	for g, h := range c.held {
		out = append(out, Held{Group: g, Since: h.since})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}
