package speaker

import (
	"maps"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/leaselb/leaselb/election"
	lblisters "github.com/leaselb/leaselb/internal/client/listers/api/v1alpha1"
	"github.com/leaselb/leaselb/l2"
)

// Annotations the speaker writes on VIP leases (through the election); the
// node lease's MACs annotation is election.AnnotationMACs.
const (
	// IPsAnnotation on a VIP lease lists the group's IPs, for people
	// reading `kubectl get leases`.
	IPsAnnotation = "leaselb.io/ips"
	// ServicesAnnotation on a VIP lease lists the group's Services
	// (namespace/name), for the same readers.
	ServicesAnnotation = "leaselb.io/services"
)

// Event reasons the speaker raises on Services.
const (
	EventAnnouncing = "Announcing"
	EventReleased   = "Released"
	EventIPConflict = "IPConflict"
)

// noInterfaceHint ends the Warning when a held IP has no interface.
const noInterfaceHint = "no interface of the node is up with an address in the IP's subnet (or named by the L2Advertisement's interfaces); " +
	"give the node an address in that subnet or set spec.interfaces in the L2Advertisement"

// conflictEventInterval rate-limits IPConflict Events per (IP, MAC).
const conflictEventInterval = 5 * time.Minute

// reannounceInterval rate-limits, per group, the gratuitous ARP / unsolicited
// NA sent when a predecessor is seen still announcing one of our groups.
const reannounceInterval = time.Second

// revalidateEvery is how often the loop looks again at groups held back on
// a link that came back, until the Lease cache has caught up (an in-memory
// check; no API call).
const revalidateEvery = 100 * time.Millisecond

// elector is what the loop needs of election.Elector.
type elector interface {
	SetGroups(groups []election.GroupSpec)
	Changed() <-chan struct{}
	Held() []election.Held
	Lost(group string)
	Holder(group string) (string, bool)
	SetNodeAnnotations(a map[string]string)
	CacheCurrentSince() time.Time
	NodeOfMAC(mac net.HardwareAddr) string
}

// announcer is what the loop needs of l2.Announcer.
type announcer interface {
	Set(desired []l2.Announcement)
	Claims() <-chan l2.Claim
	Interfaces(ip netip.Addr) []string
	MACs() []net.HardwareAddr
	Addrs() []netip.Addr
	Links() []l2.Link
	LinksChanged() <-chan struct{}
	Reannounce(ips []netip.Addr)
}

var (
	_ elector   = (*election.Elector)(nil)
	_ announcer = (*l2.Announcer)(nil)
)

// sources are the informers' caches the loop reads.
type sources struct {
	services  corelisters.ServiceLister
	slices    discoverylisters.EndpointSliceLister
	nodes     corelisters.NodeLister
	pools     lblisters.IPAddressPoolNamespaceLister
	ads       lblisters.L2AdvertisementNamespaceLister
	namespace string
}

// loopConfig is what the loop needs besides its collaborators.
type loopConfig struct {
	node              string
	requireClass      bool
	ignoreExclude     bool
	nodeLeaseDuration time.Duration
	clock             clock.PassiveClock
	log               *zap.Logger
	recorder          record.EventRecorder
	m                 *metrics
	// stale lists the caches that may be out of date (see Freshness); nil
	// means none ever is.
	stale func() []string
}

// groupState is one group as the last recompute saw it.
type groupState struct {
	group    Group
	decision Decision
}

// announced is a group this node announces.
type announced struct {
	since    time.Time // Held.Since of the term being announced
	ips      []netip.Addr
	services []string // keys, for Released Events after the group is gone
	except   []string // interfaces that may not answer for it (yet)
}

// loop owns the speaker's state; only its goroutine touches the fields
// below the channels.
type loop struct {
	cfg loopConfig
	el  elector
	an  announcer
	src sources

	// kick wakes the loop after an informer change (buffer 1: coalesces).
	kick chan struct{}
	// kickedAt is when the oldest unprocessed kick was sent (unix nanos on
	// the clock, 0: none), for the health check.
	kickedAt atomic.Int64

	groups     map[string]*groupState
	lastSpecs  []election.GroupSpec
	ann        map[string]*announced
	lastSet    []l2.Announcement
	fenced     map[string]time.Time // group -> Held.Since of the term we fenced
	successor  map[string]string    // group -> node seen announcing it
	lastSeen   map[string]time.Time // rate-limit key -> last Event or log about it
	published  map[string]string    // the node lease annotations last handed to the election
	recomputed bool
	// staleView: the last recompute saw a cache that may be out of date.
	staleView bool
	stopping  bool
	// damper and wire are this node's links as candidacy sees them.
	damper linkDamper
	wire   dampedLinks
	// gated: the last reconcile held a group back for revalidation.
	gated bool
	// candidateLists shares one slice among the groups with the same
	// candidates (and, across recomputes, lets lastSpecs compare them by
	// pointer).
	candidateLists candidateLists
}

func newLoop(cfg loopConfig, el elector, an announcer, src sources) *loop {
	if cfg.log == nil {
		cfg.log = zap.NewNop()
	}
	if cfg.clock == nil {
		cfg.clock = clock.RealClock{}
	}
	if cfg.recorder == nil {
		cfg.recorder = &record.FakeRecorder{}
	}
	return &loop{
		cfg:       cfg,
		el:        el,
		an:        an,
		src:       src,
		kick:      make(chan struct{}, 1),
		groups:    map[string]*groupState{},
		ann:       map[string]*announced{},
		fenced:    map[string]time.Time{},
		successor: map[string]string{},
		lastSeen:  map[string]time.Time{},
	}
}

// holdOnly keeps this node from claiming groups while one of its caches
// may be out of date: it still holds (and may release) what it holds, but a
// group it does not hold is not claimed on the word of a stale cache — it
// might belong to a Service deleted meanwhile. Other nodes, whose caches
// are current, claim as usual.
func (l *loop) holdOnly(specs []election.GroupSpec, counts map[Reason]int) {
	var stale []string
	if l.cfg.stale != nil {
		stale = l.cfg.stale()
	}
	if was := l.staleView; (len(stale) > 0) != was {
		l.staleView = len(stale) > 0
		if l.staleView {
			l.cfg.log.Info("caches may be out of date after a failed watch: keeping held groups, claiming none", zap.Strings("resources", stale))
		} else {
			l.cfg.log.Info("caches current again: claiming as usual")
		}
	}
	if len(stale) == 0 {
		return
	}
	held := map[string]bool{}
	for _, h := range l.el.Held() {
		held[h.Group] = true
	}
	for i := range specs {
		if specs[i].Candidate && !held[specs[i].Name] {
			specs[i].Candidate = false
			specs[i].Reason = election.Reason(ReasonStaleView)
			counts[ReasonCandidate]--
			counts[ReasonStaleView]++
		}
	}
}

// changed is the informers' event handler: it only wakes the loop.
func (l *loop) changed() {
	l.kickedAt.CompareAndSwap(0, l.cfg.clock.Now().UnixNano())
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// recompute rebuilds the groups and this node's candidacy from the caches
// and hands them to the election.
func (l *loop) recompute() {
	l.kickedAt.Store(0)
	start := l.cfg.clock.Now()
	services, _ := l.src.services.List(labels.Everything())
	nodes, _ := l.src.nodes.List(labels.Everything())
	slicesList, _ := l.src.slices.List(labels.Everything())
	pools, _ := l.src.pools.List(labels.Everything())
	ads, _ := l.src.ads.List(labels.Everything())

	groups, ignored := Groups(services, l.cfg.requireClass)
	l.observeLinks()
	w := NewWorld(Inputs{Nodes: nodes, Pools: pools, Advertisements: ads, EndpointSlices: slicesList, IgnoreExcludeLabel: l.cfg.ignoreExclude,
		Wire: &Wire{Node: l.cfg.node, Links: l.wire.links}})
	next := make(map[string]*groupState, len(groups))
	specs := make([]election.GroupSpec, 0, len(groups))
	counts := map[Reason]int{}
	for _, g := range groups {
		v := w.view(g, l.cfg.requireClass)
		d := v.decide(l.cfg.node)
		spec := election.GroupSpec{
			Name:        g.Name,
			Candidate:   d.Candidate,
			Reason:      election.Reason(d.Reason),
			Candidates:  l.candidateLists.of(v),
			Annotations: leaseAnnotations(g),
		}
		specs = append(specs, spec)
		next[g.Name] = &groupState{group: g, decision: d}
		if d.Candidate {
			counts[ReasonCandidate]++
		} else {
			counts[d.Reason]++
		}
		if old := l.groups[g.Name]; old == nil || old.decision.Reason != d.Reason {
			if d.Candidate {
				l.cfg.log.Debug("candidate for group", zap.String("group", g.Name), zap.String("lease", g.Name),
					zap.Stringers("ips", g.IPs), zap.Strings("candidates", spec.Candidates))
			} else {
				l.cfg.log.Debug("not a candidate for group", zap.String("group", g.Name), zap.String("lease", g.Name),
					zap.Stringer("reason", d.Reason), zap.String("why", d.Message), zap.Strings("candidates", spec.Candidates))
			}
		}
	}
	l.holdOnly(specs, counts)
	l.groups = next
	if !l.recomputed || !reflect.DeepEqual(specs, l.lastSpecs) {
		l.el.SetGroups(specs)
		l.lastSpecs = specs
	}
	l.recomputed = true

	for _, r := range append([]Reason{ReasonCandidate}, allReasons...) {
		l.cfg.m.candidacy.WithLabelValues(string(r)).Set(float64(counts[r]))
	}
	ign := map[Reason]int{}
	for _, i := range ignored {
		ign[i.Reason]++
	}
	for _, r := range []Reason{ReasonNotOurClass, ReasonNoIP} {
		l.cfg.m.ignored.WithLabelValues(string(r)).Set(float64(ign[r]))
	}
	l.cfg.m.recompute.Observe(l.cfg.clock.Since(start).Seconds())
}

// observeLinks runs the announcer's current links through the damper and
// logs what changed for a person.
func (l *loop) observeLinks() {
	was := l.wire
	l.wire = l.damper.observe(l.cfg.clock.Now(), l.an.Links())
	if !slices.Equal(was.held, l.wire.held) && len(l.wire.held) > 0 {
		l.cfg.log.Info("interfaces back up, not used until their hold-down ends", zap.Strings("interfaces", l.wire.held),
			zap.Time("until", l.wire.next))
	}
	for name, at := range l.wire.returned {
		if !was.returned[name].Equal(at) {
			l.cfg.log.Info("interface usable again; groups held from before answer on it once the Leases confirm them",
				zap.String("interface", name))
		}
	}
}

// leaseAnnotations are written on a group's VIP lease by its holder.
func leaseAnnotations(g Group) map[string]string {
	ips := make([]string, len(g.IPs))
	for i, ip := range g.IPs {
		ips[i] = ip.String()
	}
	svcs := make([]string, len(g.Services))
	for i, s := range g.Services {
		svcs[i] = serviceKey(s)
	}
	s := strings.Join(svcs, ",")
	if len(s) > 1024 {
		// Readability only: keep Lease objects small for huge sharing groups.
		s = s[:1024] + ",..."
	}
	return map[string]string{IPsAnnotation: strings.Join(ips, ","), ServicesAnnotation: s}
}

// reconcile makes the announcer answer for exactly the groups this node
// holds and is still a candidate for, minus those fenced on the wire, and
// raises the Events of what changed. The pure steps are desired and
// changesOf; the rest applies them.
func (l *loop) reconcile() {
	if !l.recomputed {
		return
	}
	held := l.el.Held()
	rv := revalidation{held: l.wire.held, returned: l.wire.returned, cacheSince: l.el.CacheCurrentSince(),
		holder: l.el.Holder, node: l.cfg.node}
	want, gated := desired(held, l.groups, l.fenced, l.stopping, rv)
	if gated != l.gated {
		l.gated = gated
		if gated {
			l.cfg.log.Info("holding back groups on interfaces that came back until the Leases confirm this node holds them")
		}
	}
	l.forgetFences(held)
	anns := l.announcements(want)
	if !reflect.DeepEqual(anns, l.lastSet) {
		start := l.cfg.clock.Now()
		l.an.Set(anns)
		l.cfg.m.annInterval.Observe(l.cfg.clock.Since(start).Seconds())
		l.lastSet = anns
	}
	stopped, started, joined := changesOf(l.ann, want)
	for _, name := range stopped {
		l.released(name, l.ann[name])
	}
	for _, name := range started {
		l.announcing(name, want[name], true, want[name].services)
	}
	for _, name := range sortedKeys(joined) {
		l.announcing(name, want[name], false, joined[name])
	}
	l.ann = want
	l.cfg.m.held.Set(float64(len(want)))
}

// revalidation is what desired needs to keep links that came back from
// answering before the Leases confirm the groups held from before.
type revalidation struct {
	held       []string             // links in their hold-down: never answer
	returned   map[string]time.Time // link -> when it counted as usable again
	cacheSince time.Time            // Elector.CacheCurrentSince
	holder     func(group string) (string, bool)
	node       string
}

// except returns the interfaces that may not answer for the term h: those
// in their hold-down, and those that came back after the term began until
// the Lease cache is current since their return (a renewal of ours sent
// after it has come back through the watch) and still names this node —
// the rule of a restarted speaker. A term won after the return was a
// conditional write on current data and needs no revalidation.
func (r revalidation) except(h election.Held) []string {
	out := slices.Clone(r.held)
	for name, at := range r.returned {
		if !h.Since.Before(at) {
			continue
		}
		if r.cacheSince.After(at) && r.holder != nil {
			if n, ok := r.holder(h.Group); ok && n == r.node {
				continue
			}
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// desired is what this node should announce: the groups it holds and is
// still a candidate for, minus those fenced on the wire in the same term,
// each with the interfaces that may not answer for it yet; nothing while
// stopping. A group that some IP of could only be announced on such
// interfaces waits whole (gated is then true): it is announced once
// revalidated, with its Events then.
func desired(held []election.Held, groups map[string]*groupState, fenced map[string]time.Time, stopping bool, rv revalidation) (want map[string]*announced, gated bool) {
	want = map[string]*announced{}
	if stopping {
		return want, false
	}
	for _, h := range held {
		if since, ok := fenced[h.Group]; ok && since.Equal(h.Since) {
			continue // we saw a successor announce it; the election catches up
		}
		gs := groups[h.Group]
		if gs == nil || !gs.decision.Candidate {
			continue // the election releases it on its next turn
		}
		except := rv.except(h)
		if gs.decision.Links != nil && slices.ContainsFunc(gs.decision.IPs, func(ip netip.Addr) bool {
			return !slices.ContainsFunc(gs.decision.Links[ip], func(n string) bool { return !slices.Contains(except, n) })
		}) {
			gated = true
			continue
		}
		svcs := make([]string, len(gs.group.Services))
		for i, s := range gs.group.Services {
			svcs[i] = serviceKey(s)
		}
		want[h.Group] = &announced{since: h.Since, ips: gs.decision.IPs, services: svcs, except: except}
	}
	return want, gated
}

// changesOf compares what was announced with what is wanted: the groups
// no longer announced, those announced in a new term, and, for groups that
// stay, the Services that joined them (a Service that now shares an IP
// this node already announces), each sorted.
func changesOf(was, want map[string]*announced) (stopped, started []string, joined map[string][]string) {
	joined = map[string][]string{}
	for _, name := range sortedKeys(was) {
		if _, ok := want[name]; !ok {
			stopped = append(stopped, name)
		}
	}
	for _, name := range sortedKeys(want) {
		old, ok := was[name]
		if !ok || !old.since.Equal(want[name].since) {
			started = append(started, name)
			continue
		}
		for _, s := range want[name].services {
			if !slices.Contains(old.services, s) {
				joined[name] = append(joined[name], s)
			}
		}
	}
	return stopped, started, joined
}

// forgetFences drops the fences of terms that left Held(), so that a later
// lawful claim is announced again.
func (l *loop) forgetFences(held []election.Held) {
	heldNow := map[string]time.Time{}
	for _, h := range held {
		heldNow[h.Group] = h.Since
	}
	for g, since := range l.fenced {
		if s, ok := heldNow[g]; !ok || !s.Equal(since) {
			delete(l.fenced, g)
		}
	}
}

// released reports that this node stopped announcing group name: log,
// metric and a Released Event on each of its Services that still exists.
func (l *loop) released(name string, old *announced) {
	reason, why := l.releaseReason(name)
	l.cfg.m.handovers.WithLabelValues("out", string(reason)).Inc()
	l.cfg.log.Info("stopped announcing group", zap.String("group", name), zap.String("lease", name),
		zap.Stringers("ips", old.ips), zap.Stringer("reason", reason), zap.String("why", why))
	for _, s := range l.existingServices(old.services) {
		l.cfg.recorder.Eventf(s, corev1.EventTypeNormal, EventReleased,
			"node %s stopped announcing %s: %s", l.cfg.node, joinIPs(old.ips), reasonText(reason, why))
	}
	delete(l.successor, name)
}

// announcing reports that this node announces group name with an
// Announcing Event on services; for a new term (services are then all of
// the group's) with its log line and metrics too.
func (l *loop) announcing(name string, a *announced, newTerm bool, services []string) {
	var ifaces []string
	var live, dark []netip.Addr
	for _, ip := range a.ips {
		got := l.an.Interfaces(ip)
		if len(got) == 0 {
			dark = append(dark, ip)
		} else {
			live = append(live, ip)
		}
		ifaces = append(ifaces, got...)
	}
	slices.Sort(ifaces)
	ifaces = slices.Compact(ifaces)
	if newTerm {
		latency := l.cfg.clock.Since(a.since)
		l.cfg.m.claimToAnn.Observe(latency.Seconds())
		l.cfg.m.handovers.WithLabelValues("in", "won").Inc()
		fields := []zap.Field{zap.String("group", name), zap.String("lease", name),
			zap.Stringers("ips", a.ips), zap.Strings("interfaces", ifaces), zap.Duration("claimToAnnounce", latency)}
		if len(dark) > 0 {
			l.cfg.log.Warn("announcing group, but some of its IPs on no interface", append(fields, zap.Stringers("unannounced", dark))...)
		} else {
			l.cfg.log.Info("announcing group", fields...)
		}
	}
	for _, s := range l.existingServices(services) {
		switch {
		case len(live) == 0:
			l.cfg.recorder.Eventf(s, corev1.EventTypeWarning, EventAnnouncing,
				"node %s holds %s but no interface of it can announce it: %s", l.cfg.node, joinIPs(a.ips), noInterfaceHint)
		case len(dark) > 0:
			l.cfg.recorder.Eventf(s, corev1.EventTypeWarning, EventAnnouncing,
				"announcing %s from node %s on %s; %s on no interface: %s",
				joinIPs(live), l.cfg.node, strings.Join(ifaces, ", "), joinIPs(dark), noInterfaceHint)
		default:
			l.cfg.recorder.Eventf(s, corev1.EventTypeNormal, EventAnnouncing,
				"announcing %s from node %s on %s", joinIPs(a.ips), l.cfg.node, strings.Join(ifaces, ", "))
		}
	}
}

// announcements turns the announced groups into the announcer's desired
// set: one Announcement per group and interface list.
func (l *loop) announcements(want map[string]*announced) []l2.Announcement {
	var out []l2.Announcement
	for _, name := range sortedKeys(want) {
		d := l.groups[name].decision
		var byIfaces []l2.Announcement
		for _, ip := range want[name].ips {
			ifaces := d.Interfaces[ip]
			i := slices.IndexFunc(byIfaces, func(a l2.Announcement) bool { return slices.Equal(a.Interfaces, ifaces) })
			if i < 0 {
				byIfaces = append(byIfaces, l2.Announcement{Group: name, Interfaces: ifaces, Except: want[name].except})
				i = len(byIfaces) - 1
			}
			byIfaces[i].IPs = append(byIfaces[i].IPs, ip)
		}
		out = append(out, byIfaces...)
	}
	return out
}

// releaseReason says why this node stopped announcing group name.
func (l *loop) releaseReason(name string) (reason Reason, why string) {
	gs := l.groups[name]
	switch {
	case l.stopping:
		return ReasonShutdown, "the speaker is shutting down; another node takes over"
	case gs == nil:
		return ReasonGroupRemoved, "the group no longer exists (Service deleted, its IP changed or it stopped being a LoadBalancer of ours)"
	case !gs.decision.Candidate:
		return gs.decision.Reason, gs.decision.Message
	case l.successor[name] != "":
		return ReasonFenced, "node " + l.successor[name] + " was seen announcing it on the wire"
	}
	if h, ok := l.el.Holder(name); ok && h != l.cfg.node {
		return ReasonTakenOver, "node " + h + " holds its lease now"
	}
	return ReasonLeaseLost, "this node no longer holds its lease"
}

func reasonText(reason Reason, why string) string {
	if why == "" {
		return string(reason)
	}
	return string(reason) + ": " + why
}

// existingServices returns the Services named by keys that the cache still
// holds.
func (l *loop) existingServices(keys []string) []*corev1.Service {
	var out []*corev1.Service
	for _, k := range keys {
		ns, name, _ := strings.Cut(k, "/")
		if s, err := l.src.services.Services(ns).Get(name); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// claim handles a frame that claims one of our VIPs from another MAC.
func (l *loop) claim(c l2.Claim) {
	ip := c.IP.Unmap().WithZone("")
	group := ""
	for _, name := range sortedKeys(l.ann) {
		if slices.Contains(l.ann[name].ips, ip) {
			group = name
			break
		}
	}
	fields := []zap.Field{zap.String("ip", ip.String()), zap.String("mac", c.MAC.String()), zap.String("interface", c.Interface)}
	if group == "" {
		l.cfg.m.wireClaims.WithLabelValues("stale").Inc()
		l.cfg.log.Debug("claim for an IP this node does not announce (any more)", fields...)
		return
	}
	fields = append(fields, zap.String("group", group), zap.String("lease", group))
	owner := l.el.NodeOfMAC(c.MAC)
	if owner == l.cfg.node || slices.ContainsFunc(l.an.MACs(), func(m net.HardwareAddr) bool { return slices.Equal(m, c.MAC) }) {
		// Our own frame (a loop on the link), whatever the node leases say:
		// never a conflict.
		l.cfg.m.wireClaims.WithLabelValues("stale").Inc()
		return
	}
	if owner == "" {
		l.conflict(group, ip, c, fields)
		return
	}
	fields = append(fields, zap.String("claimant", owner))
	holder, known := l.el.Holder(group)
	since := l.el.CacheCurrentSince()
	current := !since.IsZero() && l.cfg.clock.Since(since) < l.cfg.nodeLeaseDuration
	if known && holder == l.cfg.node && current {
		// Our cache is current (it delivered one of our renewals within a
		// node-lease duration, so nobody can have judged us expired) and
		// names us: the claimant is a predecessor that has not seen our
		// announcement yet, and stops when it does.
		l.cfg.m.wireClaims.WithLabelValues("predecessor").Inc()
		if l.firstIn(reannounceInterval, "reannounce|"+group) {
			// Tell the clients and the stale node now, rather than leave
			// them on its word until its own lease renewal fails.
			l.an.Reannounce(l.ann[group].ips)
		}
		if l.firstIn(conflictEventInterval, "predecessor|"+group+"|"+c.MAC.String()) {
			l.cfg.log.Info("another speaker still announces a group this node holds; keeping it and re-announcing (our lease is current, it stops when it sees our announcements)", fields...)
		}
		return
	}
	// The claimant holds the lease as our cache shows it, or our cache is
	// not current (we may be cut off from the API server): a successor took
	// over. Stop now; the election re-reads the lease.
	l.cfg.m.wireClaims.WithLabelValues("successor").Inc()
	l.cfg.log.Info("a successor announces a group this node holds; stopping at once", append(fields,
		zap.String("leaseHolder", holder), zap.Bool("cacheCurrent", current))...)
	l.fenced[group] = l.ann[group].since
	l.successor[group] = owner
	l.el.Lost(group)
	l.reconcile()
}

// conflict handles a claim from a MAC no speaker has published.
func (l *loop) conflict(group string, ip netip.Addr, c l2.Claim, fields []zap.Field) {
	l.cfg.m.wireClaims.WithLabelValues("conflict").Inc()
	l.cfg.m.conflicts.Inc()
	if !l.firstIn(conflictEventInterval, ip.String()+"|"+c.MAC.String()) {
		return
	}
	l.cfg.log.Warn("IP conflict: a host that runs no speaker claims a VIP this node announces", fields...)
	for _, s := range l.existingServices(l.ann[group].services) {
		l.cfg.recorder.Eventf(s, corev1.EventTypeWarning, EventIPConflict,
			"%s is claimed on %s's interface %s by MAC %s, which belongs to no leaselb speaker: another host uses this IP; remove it from that host or from the IPAddressPool",
			ip, l.cfg.node, c.Interface, c.MAC)
	}
}

// firstIn reports whether key was not seen within d, and records it: a
// rate limit for Events and logs about what the wire shows.
func (l *loop) firstIn(d time.Duration, key string) bool {
	now := l.cfg.clock.Now()
	if last, ok := l.lastSeen[key]; ok && now.Sub(last) < d {
		return false
	}
	if len(l.lastSeen) > 1000 {
		for k, t := range l.lastSeen {
			if now.Sub(t) >= d {
				delete(l.lastSeen, k)
			}
		}
	}
	l.lastSeen[key] = now
	return true
}

// publishNodeAnnotations hands the election this node's announcing MACs and
// addresses for its node lease when they changed.
func (l *loop) publishNodeAnnotations() {
	a := nodeAnnotations(l.an)
	if maps.Equal(a, l.published) {
		return
	}
	l.published = a
	l.el.SetNodeAnnotations(a)
	l.cfg.log.Info("announcing interfaces' MACs and addresses published on the node lease",
		zap.String("macs", a[election.AnnotationMACs]), zap.String("addrs", a[election.AnnotationAddrs]))
}

// nodeAnnotations are the annotations the speaker publishes on its node
// lease: the MACs of its announcing interfaces (other speakers tell its
// frames from a stranger's by them) and their addresses (the wire check
// probes those).
func nodeAnnotations(an announcer) map[string]string {
	addrs := an.Addrs()
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return map[string]string{
		election.AnnotationMACs:  macString(an.MACs()),
		election.AnnotationAddrs: strings.Join(s, ","),
	}
}

// stop stops announcing everything (the election releases the leases
// meanwhile) and raises the Released Events.
func (l *loop) stop() {
	l.stopping = true
	l.reconcile()
}

// macString is the election.AnnotationMACs value for macs: lower case, sorted,
// comma-separated.
func macString(macs []net.HardwareAddr) string {
	s := make([]string, len(macs))
	for i, m := range macs {
		s[i] = strings.ToLower(m.String())
	}
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func joinIPs(ips []netip.Addr) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ", ")
}
