package election

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// Lease labels and names shared with the speaker and with people reading
// `kubectl get leases`.
const (
	// RoleLabel marks the Leases leaselb's speakers make; other Leases in
	// the namespace are ignored.
	RoleLabel = "leaselb.io/role"
	// RoleNode is the RoleLabel value of a node lease.
	RoleNode = "node"
	// RoleVIP is the RoleLabel value of a VIP lease (one per group).
	RoleVIP = "vip"
	// NodeLeasePrefix starts every node lease name: node-<nodeName>.
	NodeLeasePrefix = "node-"
	// AnnotationMACs on a node lease lists the MACs of the node's
	// announcing interfaces, comma-separated (the speaker sets it through
	// SetNodeAnnotations), so every speaker can tell a successor's
	// gratuitous ARP from a foreign host's: see NodeOfMAC.
	AnnotationMACs = "leaselb.io/macs"
	// AnnotationAddrs on a node lease lists the addresses of the node's
	// announcing interfaces, comma-separated (the speaker sets it with
	// AnnotationMACs): the wire check probes them, because the node's
	// kernel answers for them even while its speaker is stopped.
	AnnotationAddrs = "leaselb.io/addrs"
	// AnnotationReleasedBy on a released VIP lease names the node that
	// released it; the other candidates rank without it, so the next one
	// claims at once.
	AnnotationReleasedBy = "leaselb.io/released-by"
)

// Defaults for the zero values of Config other than its Timing (timing.go).
const (
	// DefaultMaxInflight bounds the VIP lease writes in flight at once, so
	// a node lease renewal never queues behind a thousand claims in the
	// client's rate limiter.
	DefaultMaxInflight = 64
)

// shutdownBudget bounds how long Run spends releasing groups after its
// context is done.
const shutdownBudget = time.Second

// ErrConfig is wrapped by New's errors about a Config that cannot work.
var ErrConfig = errors.New("election: invalid config")

// ErrUnhealthy is wrapped by every error Healthy returns.
var ErrUnhealthy = errors.New("election: unhealthy")

// ErrAPIUnreachable is also wrapped by Healthy's error when the node lease
// is overdue because the API server refuses or cannot be reached. Held
// groups stay announced meanwhile; restarting the speaker would not help
// and would stop them being announced until the API server is back, so a
// liveness probe should not fail on it (a readiness probe may).
var ErrAPIUnreachable = errors.New("election: API server unreachable")

// NodeLeaseName returns the name of node's node lease.
func NodeLeaseName(node string) string { return NodeLeasePrefix + node }

// Config is what an Elector needs. Client, Leases, Namespace and Node are
// required; zero durations take the defaults in timing.go.
type Config struct {
	// Client performs the writes (create, update, delete of Leases); reads
	// come from Leases.
	Client kubernetes.Interface
	// Leases is a shared informer on the Leases in Namespace, created and
	// started by the caller. Its resync period should be 0: every resync
	// looks like a re-list, after which nobody is judged expired for a
	// NodeLeaseDuration.
	Leases    cache.SharedIndexInformer
	Namespace string
	// Node is this node's name, the holder written on the leases.
	Node string
	// Clock is the clock every timing decision uses; nil means the real one.
	Clock clock.WithTicker
	// Timing holds the election's durations; see Timing.Validate for the
	// rules between them.
	Timing
	// MaxInflight bounds the VIP lease writes in flight (default 64).
	MaxInflight int
	// WireCheck turns on the wire check (docs/election.md): Suspects lists
	// the holders this node should probe, and a holder reported silent on
	// the wire (WireSilent) may be taken after Timing.WireLapse instead of
	// the full NodeLeaseDuration. Off, WireSilent and WireAlive are ignored.
	WireCheck bool
	// NodeAnnotations are written on the node lease.
	NodeAnnotations map[string]string
	// Logger receives state changes at info and the rest at debug; nil
	// discards.
	Logger *zap.Logger
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// GroupSpec describes one announcement group as this node sees it.
type GroupSpec struct {
	// Name is the group's name and its VIP lease's name (vip-...).
	Name string
	// Candidate says whether this node may hold the group.
	Candidate bool
	// Reason says why not, when !Candidate: the speaker's own vocabulary,
	// which the drop and the release then carry (logs, metrics).
	Reason Reason
	// Candidates are every node eligible for the group, this one included
	// when Candidate; they are ranked by rendezvous hash.
	Candidates []string
	// Annotations are written on the VIP lease by its holder, for people
	// reading `kubectl get leases`.
	Annotations map[string]string
}

// A Suspect is a holder that has missed a renewal of its node lease, of a
// group for which this node is the top-ranked live successor: the speaker
// probes it on the wire and reports the result with WireAlive or
// WireSilent.
type Suspect struct {
	// Node is the holder.
	Node string
	// Group is the group (its VIP lease name); the speaker probes one of
	// its IPs.
	Group string
	// MACs are the holder's MACs as its node lease lists them
	// (AnnotationMACs); empty when it lists none, and then nothing can be
	// probed.
	MACs []net.HardwareAddr
	// Addrs are the holder's own addresses as its node lease lists them
	// (AnnotationAddrs): its kernel answers for them.
	Addrs []netip.Addr
}

// Held is a group this node holds.
type Held struct {
	Group string
	// Since is when our claim succeeded, on the Elector's clock.
	Since time.Time
}

// An Elector takes part, for this node, in the elections of every group,
// over one node lease and one VIP lease per group.
type Elector struct {
	cfg   Config
	clock clock.WithTicker
	log   *zap.Logger
	m     *metrics

	wake chan struct{} // buffer 1: the inbox has something
	mu   sync.Mutex
	// inbox: what the informer, the writes and the speaker reported, for
	// the loop to apply in order.
	inbox      []func(*core, time.Time)
	nodeAnnots map[string]string
	// lists maps the caller's candidate slices of the last SetGroups to
	// our copies of them.
	lists map[listKey][]string

	reg cache.ResourceEventHandlerRegistration

	changed chan struct{}

	snapMu   sync.Mutex
	held     []Held
	synced   bool
	renewOK  time.Time
	started  time.Time // when the informer synced: the first renewal is due
	period   time.Duration
	failing  bool
	echoSent time.Time  // core.own.echoSent, for CacheCurrentSince
	suspects []Suspect  // core.suspects, MACs not filled in
	inflight *writeGate // bounds the VIP writes in flight

	// What settled reads, so tests can step a fake clock without
	// sleeping: the loop's wait, the writes under way and the last
	// resourceVersion the handler saw of each Lease (guarded by mu).
	waiting  atomic.Pointer[waitState]
	writing  atomic.Int32
	observed map[string]string
}

// waitState is one wait of Run's loop: until when, if a timer is set. A
// channel's length cannot tell whether it fired (a send to a parked
// receiver skips the buffer), the clock can.
type waitState struct{ until time.Time }

// New checks cfg and returns an Elector; it registers its event handler on
// cfg.Leases at once, so it sees the informer's initial list.
func New(cfg Config) (*Elector, error) {
	switch {
	case cfg.Client == nil:
		return nil, fmt.Errorf("%w: Client is nil; pass the speaker's clientset", ErrConfig)
	case cfg.Leases == nil:
		return nil, fmt.Errorf("%w: Leases is nil; pass the shared Lease informer on the leaselb namespace", ErrConfig)
	case cfg.Namespace == "":
		return nil, fmt.Errorf("%w: Namespace is empty; set --namespace (leaselb-system)", ErrConfig)
	case cfg.Node == "":
		return nil, fmt.Errorf("%w: Node is empty; set the node name (spec.nodeName through the downward API)", ErrConfig)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if err := cfg.Timing.Validate(); err != nil {
		return nil, err
	}
	cfg.Timing = cfg.Timing.WithDefaults()
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	e := &Elector{
		cfg:        cfg,
		clock:      cfg.Clock,
		log:        cfg.Logger.With(zap.String("node", cfg.Node)),
		wake:       make(chan struct{}, 1),
		changed:    make(chan struct{}, 1),
		nodeAnnots: maps.Clone(cfg.NodeAnnotations),
		observed:   map[string]string{},
		inflight:   newWriteGate(cfg.MaxInflight),
		started:    cfg.Clock.Now(),
		period:     cfg.IdleRenew,
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	e.m = m
	reg, err := cfg.Leases.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { e.observe(obj, false) },
		UpdateFunc: e.onUpdate,
		DeleteFunc: func(obj any) { e.observe(obj, true) },
	})
	if err != nil {
		return nil, fmt.Errorf("election: adding the Lease event handler: %w", err)
	}
	e.reg = reg
	return e, nil
}

// settled reports, for tests on a fake clock, that the Elector has done
// everything it can until the clock moves or something new happens: its
// handler has seen every Lease at the resourceVersion leases gives (name to
// resourceVersion, as the API server holds them), its loop waits with
// nothing in its inbox and no timer due on the clock, and its only writes
// under way are the blocked ones the test holds back. Before the informer
// has synced it is never settled.
func (e *Elector) settled(leases map[string]string, blocked int) bool {
	w := e.waiting.Load()
	if w == nil || (!w.until.IsZero() && !e.clock.Now().Before(w.until)) || int(e.writing.Load()) > blocked {
		return false
	}
	e.snapMu.Lock()
	synced := e.synced
	e.snapMu.Unlock()
	if !synced {
		return false // the loop polls the informer in real time until then
	}
	e.mu.Lock()
	quiet := len(e.inbox) == 0 && maps.Equal(e.observed, leases)
	e.mu.Unlock()
	// Still the same wait: the loop did not run in between.
	return quiet && e.waiting.Load() == w
}

// push queues f for the loop and wakes it; it never blocks.
func (e *Elector) push(f func(*core, time.Time)) {
	e.mu.Lock()
	e.inbox = append(e.inbox, f)
	e.mu.Unlock()
	e.kick()
}

// kick wakes the loop; it never blocks.
func (e *Elector) kick() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *Elector) onUpdate(oldObj, newObj any) {
	o, ok1 := oldObj.(*coordinationv1.Lease)
	n, ok2 := newObj.(*coordinationv1.Lease)
	if ok1 && ok2 && o.ResourceVersion == n.ResourceVersion && n.Labels[RoleLabel] != "" {
		// An update that changes nothing is a re-list (or a resync): the
		// watch was broken and what follows may be the first news in a
		// long time.
		e.push(func(c *core, now time.Time) { c.relisted(now) })
	}
	e.observe(newObj, false)
}

// observe turns an informer notification into a core observation.
func (e *Elector) observe(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return
	}
	role := l.Labels[RoleLabel]
	var lv *leaseView
	if !deleted {
		lv = viewOf(l)
	}
	var f func(*core, time.Time)
	switch {
	case role == RoleNode && strings.HasPrefix(l.Name, NodeLeasePrefix):
		node := strings.TrimPrefix(l.Name, NodeLeasePrefix)
		f = func(c *core, now time.Time) { c.observeNode(node, lv, now) }
	case role == RoleVIP:
		name := l.Name
		f = func(c *core, now time.Time) { c.observeVIP(name, lv, now) }
	}
	// Record what was seen in the same step as queueing it, so settled
	// never sees the one without the other.
	e.mu.Lock()
	if deleted {
		delete(e.observed, l.Name)
	} else {
		e.observed[l.Name] = l.ResourceVersion
	}
	if f != nil {
		e.inbox = append(e.inbox, f)
	}
	e.mu.Unlock()
	if f != nil {
		e.kick()
	}
}

func viewOf(l *coordinationv1.Lease) *leaseView {
	lv := &leaseView{rv: l.ResourceVersion, annotations: l.Annotations}
	if l.Spec.HolderIdentity != nil {
		lv.holder = *l.Spec.HolderIdentity
	}
	if l.Spec.LeaseTransitions != nil {
		lv.transitions = *l.Spec.LeaseTransitions
	}
	return lv
}

// SetGroups replaces the full set of groups that exist. Until the first
// call nothing is claimed and no lease is garbage-collected.
//
// Groups that share one Candidates slice (the speaker hands out one per
// distinct list) share one copy of it here too, and keep the copy of the
// call before while the list is unchanged: 5,000 groups over 100 nodes hold
// one list of 100 names, not 5,000.
func (e *Elector) SetGroups(groups []GroupSpec) {
	specs := make([]GroupSpec, len(groups))
	e.mu.Lock()
	prev := e.lists
	e.mu.Unlock()
	next := map[listKey][]string{}
	for i, g := range groups {
		if len(g.Candidates) == 0 {
			g.Candidates = nil
		} else {
			k := listKey{&g.Candidates[0], len(g.Candidates)}
			l, ok := next[k]
			if !ok {
				if l, ok = prev[k]; !ok || !slices.Equal(l, g.Candidates) {
					l = slices.Clone(g.Candidates)
				}
				next[k] = l
			}
			g.Candidates = l
		}
		g.Annotations = maps.Clone(g.Annotations)
		specs[i] = g
	}
	e.mu.Lock()
	e.lists = next
	e.mu.Unlock()
	e.push(func(c *core, _ time.Time) { c.setGroups(specs) })
}

// listKey names a caller's candidate slice by its backing array and length.
type listKey struct {
	first *string
	n     int
}

// SetNodeAnnotations replaces the annotations written on the node lease
// from its next renewal on (the speaker publishes AnnotationMACs there).
func (e *Elector) SetNodeAnnotations(a map[string]string) {
	e.mu.Lock()
	e.nodeAnnots = maps.Clone(a)
	e.mu.Unlock()
}

// Lost is the speaker's fencing signal: it saw a successor announce group on
// the wire. The group leaves Held() at once; it is claimed again only when
// the lease rules allow, after the cache has caught up.
func (e *Elector) Lost(group string) {
	e.push(func(c *core, now time.Time) { c.lost(group, now) })
}

// WireSilent reports that node, a suspect, answered none of the last probes
// sent to it, the first of which was sent at since (on the Elector's
// clock); host says that each of them also probed one of the node's own
// addresses (Suspect.Addrs), which its kernel answers even when its speaker
// is stopped. The speaker decides how many probes make silence; the
// election only uses the report if every one of them was sent after node
// missed a renewal, and never before Timing.HostLapse (host) or
// Timing.WireLapse.
func (e *Elector) WireSilent(node string, since time.Time, host bool) {
	e.push(func(c *core, _ time.Time) { c.wireSilent(node, since, host) })
}

// WireAlive reports that node answered a probe: it keeps its groups until
// the full NodeLeaseDuration lapse, unless reported silent again.
func (e *Elector) WireAlive(node string) {
	e.push(func(c *core, _ time.Time) { c.wireAlive(node) })
}

// Suspects returns the holders this node should probe now (empty unless
// Config.WireCheck), sorted by node and group.
func (e *Elector) Suspects() []Suspect {
	e.snapMu.Lock()
	s := append([]Suspect(nil), e.suspects...)
	e.snapMu.Unlock()
	for i := range s {
		annots := e.nodeAnnotations(s[i].Node)
		s[i].MACs = parseList(annots[AnnotationMACs], net.ParseMAC)
		s[i].Addrs = parseList(annots[AnnotationAddrs], netip.ParseAddr)
	}
	return s
}

// nodeAnnotations returns the annotations of node's node lease, as the
// cache shows it.
func (e *Elector) nodeAnnotations(node string) map[string]string {
	obj, exists, err := e.cfg.Leases.GetIndexer().GetByKey(e.cfg.Namespace + "/" + NodeLeaseName(node))
	if err != nil || !exists {
		return nil
	}
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return nil
	}
	return l.Annotations
}

// parseList parses a comma-separated annotation value, skipping what parse
// rejects: a speaker of another version may publish more than this one
// reads.
func parseList[T any](v string, parse func(string) (T, error)) []T {
	var out []T
	for _, f := range strings.Split(v, ",") {
		if x, err := parse(strings.TrimSpace(f)); err == nil {
			out = append(out, x)
		}
	}
	return out
}

// Changed returns a channel that receives a value (coalesced, buffer 1)
// whenever Held() changed.
func (e *Elector) Changed() <-chan struct{} { return e.changed }

// Held returns the groups this node holds now, sorted by name. The speaker
// announces exactly these.
func (e *Elector) Held() []Held {
	e.snapMu.Lock()
	defer e.snapMu.Unlock()
	return append([]Held(nil), e.held...)
}

// Holder returns the holder of group's lease as the cache shows it; ok is
// false when the lease is absent or released.
func (e *Elector) Holder(group string) (node string, ok bool) {
	obj, exists, err := e.cfg.Leases.GetIndexer().GetByKey(e.cfg.Namespace + "/" + group)
	if err != nil || !exists {
		return "", false
	}
	l, isLease := obj.(*coordinationv1.Lease)
	if !isLease || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		return "", false
	}
	return *l.Spec.HolderIdentity, true
}

// NodeOfMAC returns the node whose node lease lists mac in AnnotationMACs,
// as the cache shows it, or "" when no node lease does.
func (e *Elector) NodeOfMAC(mac net.HardwareAddr) string {
	for _, obj := range e.cfg.Leases.GetIndexer().List() {
		l, ok := obj.(*coordinationv1.Lease)
		if !ok || l.Namespace != e.cfg.Namespace || l.Labels[RoleLabel] != RoleNode || !strings.HasPrefix(l.Name, NodeLeasePrefix) {
			continue
		}
		for _, m := range strings.Split(l.Annotations[AnnotationMACs], ",") {
			if hw, err := net.ParseMAC(strings.TrimSpace(m)); err == nil && bytes.Equal(hw, mac) {
				return strings.TrimPrefix(l.Name, NodeLeasePrefix)
			}
		}
	}
	return ""
}

// CacheCurrentSince returns the send time, on the Elector's clock, of the
// newest renewal of our node lease that the Lease watch has delivered back
// (zero: none yet). Everything committed before that renewal is in the
// cache; and since the others saw our node lease change after that time,
// none of them can judge us expired before it plus the node-lease duration.
func (e *Elector) CacheCurrentSince() time.Time {
	e.snapMu.Lock()
	defer e.snapMu.Unlock()
	return e.echoSent
}

// Timing returns the durations the Elector runs with, defaults applied.
func (e *Elector) Timing() Timing { return e.cfg.Timing }

// Healthy returns nil when the Lease informer has synced and the node lease
// was renewed when it should have been; the error says which is wrong.
func (e *Elector) Healthy() error {
	e.snapMu.Lock()
	defer e.snapMu.Unlock()
	now := e.clock.Now()
	if !e.synced {
		return fmt.Errorf("%w: the Lease informer on namespace %s has not synced; check the speaker's RBAC (list/watch leases) and the API server",
			ErrUnhealthy, e.cfg.Namespace)
	}
	last, period := e.renewOK, e.period
	if last.IsZero() {
		// The first renewal is due the moment the informer synced.
		last, period = e.started, e.cfg.NodeLeaseRenew
	}
	late := now.Sub(last)
	if late <= period+e.cfg.NodeLeaseDuration {
		return nil
	}
	if e.failing {
		return fmt.Errorf("%w: %w: node lease %s/%s not renewed for %v; check the API server and the speaker's RBAC (create/update leases). Held groups stay announced meanwhile",
			ErrUnhealthy, ErrAPIUnreachable, e.cfg.Namespace, NodeLeaseName(e.cfg.Node), late.Round(time.Millisecond))
	}
	return fmt.Errorf("%w: node lease %s/%s not renewed for %v (period %v) and no renewal is failing: the election loop is stuck",
		ErrUnhealthy, e.cfg.Namespace, NodeLeaseName(e.cfg.Node), late.Round(time.Millisecond), period)
}

// Run takes part in the elections until ctx is done, then releases every
// group it holds (bounded to about a second) and returns nil. Call it once
// per Elector.
func (e *Elector) Run(ctx context.Context) error {
	c := newCore(e.cfg.Node, e.cfg.Timing)
	c.wireCheck = e.cfg.WireCheck
	e.log.Info("election starting",
		zap.String("namespace", e.cfg.Namespace),
		zap.Duration("nodeLeaseRenew", e.cfg.NodeLeaseRenew),
		zap.Duration("nodeLeaseDuration", e.cfg.NodeLeaseDuration),
		zap.Duration("idleRenew", e.cfg.IdleRenew),
		zap.Duration("rankStep", e.cfg.RankStep),
		zap.Bool("wireCheck", e.cfg.WireCheck),
		zap.Duration("wireSuspect", e.cfg.WireSuspect),
		zap.Duration("wireLapse", e.cfg.WireLapse),
		zap.Duration("hostLapse", e.cfg.HostLapse))
	var timer clock.Timer
	var timerC <-chan time.Time
	synced := false
	for {
		now := e.clock.Now()
		e.apply(c, now)
		if !synced && e.reg.HasSynced() {
			// Everything the initial list delivered is in the inbox
			// before HasSynced turns true: apply it first.
			e.apply(c, now)
			c.markSynced(now)
			synced = true
			e.snapMu.Lock()
			e.synced, e.started = true, now
			e.snapMu.Unlock()
			e.log.Info("lease informer synced")
		}
		writes, wake := c.plan(now)
		e.report(c)
		for _, w := range writes {
			e.perform(ctx, w)
		}
		if timer != nil {
			timer.Stop()
			timer, timerC = nil, nil
		}
		if !wake.IsZero() {
			timer = e.clock.NewTimer(max(wake.Sub(now), 0))
			timerC = timer.C()
		}
		var syncPoll <-chan time.Time
		if !synced {
			// HasSynced has no notification: look again shortly. Real
			// time on purpose: this is not a protocol timing.
			syncPoll = time.After(10 * time.Millisecond)
		}
		e.waiting.Store(&waitState{until: wake})
		select {
		case <-syncPoll:
		case <-ctx.Done():
			e.waiting.Store(nil)
			if timer != nil {
				timer.Stop()
			}
			e.shutdown(c)
			return nil
		case <-e.wake:
		case <-timerC:
			timer, timerC = nil, nil
		}
		e.waiting.Store(nil)
	}
}

// apply runs everything in the inbox against the core.
func (e *Elector) apply(c *core, now time.Time) {
	e.mu.Lock()
	in := e.inbox
	e.inbox = nil
	e.mu.Unlock()
	for _, f := range in {
		f(c, now)
	}
}

// report publishes Held(), health and metrics, and logs what happened.
func (e *Elector) report(c *core) {
	for _, n := range c.notes {
		g := zap.String("lease", n.group)
		switch n.kind {
		case noteWon:
			e.log.Info("group won", zap.String("group", n.group), g, zap.Stringer("reason", n.reason), zap.Duration("latency", n.latency))
			e.m.elections.WithLabelValues("won").Inc()
			e.m.handovers.WithLabelValues("in", n.reason.String()).Inc()
			if n.reason != ReasonAdopted {
				e.m.claimLatency.Observe(n.latency.Seconds())
			}
		case noteLost:
			e.log.Debug("claim lost a race", zap.String("group", n.group), g, zap.Stringer("reason", n.reason))
			e.m.elections.WithLabelValues("lost").Inc()
		case noteDropped:
			e.log.Info("group no longer held", zap.String("group", n.group), g, zap.Stringer("reason", n.reason))
			e.m.handovers.WithLabelValues("out", n.reason.String()).Inc()
		case noteResumed:
			e.log.Info("node lease renewed again; judging nobody expired for one node-lease duration",
				zap.String("lease", NodeLeaseName(e.cfg.Node)))
		case noteFailing:
			e.log.Warn("node lease renewal failing; keeping the groups held (nobody can claim them without the API server)",
				zap.String("lease", NodeLeaseName(e.cfg.Node)), zap.Int("held", len(c.held)))
		}
	}
	c.notes = c.notes[:0]
	e.snapMu.Lock()
	if c.own.okOnce {
		e.renewOK = c.own.okSent
	}
	e.failing = c.own.failing
	e.echoSent = c.own.echoSent
	e.suspects = c.suspects
	if c.own.period > 0 {
		e.period = c.own.period
	}
	changed := c.heldChanged
	if changed {
		e.held = c.heldList()
	}
	e.snapMu.Unlock()
	if changed {
		c.heldChanged = false
		e.m.held.Set(float64(len(c.held)))
		select {
		case e.changed <- struct{}{}:
		default:
		}
	}
}

// perform starts w in its own goroutine; the result comes back through the
// inbox.
func (e *Elector) perform(ctx context.Context, w write) {
	e.writing.Add(1)
	go func() {
		defer e.writing.Add(-1) // after the push below
		gated := w.kind != writeRenew && w.kind != writeDeleteNode
		if gated {
			if err := e.inflight.acquire(ctx); err != nil {
				e.push(func(c *core, now time.Time) { c.done(w, outcomeFailed, "", now) })
				return
			}
			if e.overtaken(w) {
				// What the API server would answer, without asking it.
				e.inflight.release(false)
				e.m.overtaken.Inc()
				e.push(func(c *core, now time.Time) { c.done(w, outcomeConflict, "", now) })
				return
			}
		}
		// The write itself outlives ctx, so that Run's shutdown learns
		// whether an in-flight claim won and can release it.
		out, rv, overloaded := e.do(context.WithoutCancel(ctx), w)
		e.push(func(c *core, now time.Time) { c.done(w, out, rv, now) })
		if gated {
			e.inflight.release(overloaded)
		}
	}()
}

// overtaken reports whether the VIP lease a claim is conditional on changed
// in the informer's cache while the claim waited for a write slot, so that
// the API server could only answer it with a conflict: a Create of a lease
// that now exists, an Update of an older version or of a deleted lease. When
// thousands of groups appear at once the slots queue claims for seconds, and
// the claims of the nodes ranked above land meanwhile. Only claims: their
// version comes from the cache, which the informer's store is never behind,
// while our writes to a lease we hold may carry a version from our last
// write's answer that the store has not seen yet.
func (e *Elector) overtaken(w write) bool {
	if w.kind != writeClaim {
		return false
	}
	obj, exists, err := e.cfg.Leases.GetStore().GetByKey(e.cfg.Namespace + "/" + w.name)
	if err != nil {
		return false
	}
	if !exists {
		return w.rv != ""
	}
	l, ok := obj.(*coordinationv1.Lease)
	return ok && l.ResourceVersion != w.rv
}

// do performs one write against the API server; overloaded says the API
// server refused it for overload or did not answer in time.
func (e *Elector) do(ctx context.Context, w write) (outcome, string, bool) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.NodeLeaseDuration)
	defer cancel()
	leases := e.cfg.Client.CoordinationV1().Leases(e.cfg.Namespace)
	role := RoleVIP
	if w.kind == writeRenew || w.kind == writeDeleteNode {
		role = RoleNode
	}
	var (
		verb string
		got  *coordinationv1.Lease
		err  error
	)
	if w.kind == writeDelete || w.kind == writeDeleteNode {
		verb = "delete"
		rv := w.rv
		err = leases.Delete(ctx, w.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	} else {
		l := e.leaseFor(w)
		if w.rv == "" {
			verb = "create"
			got, err = leases.Create(ctx, l, metav1.CreateOptions{})
		} else {
			verb = "update"
			got, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		}
	}
	out := outcomeOK
	result := "ok"
	overloaded := apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		errors.Is(err, context.DeadlineExceeded)
	switch {
	case err == nil:
	case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err):
		out, result = outcomeConflict, "conflict"
	default:
		out, result = outcomeFailed, "error"
	}
	e.m.writes.WithLabelValues(role, verb, result).Inc()
	if out == outcomeConflict && w.kind == writeRenew {
		// Our own node lease: re-read it from the API server, not the
		// cache, which may be what is stale (see core.renewDone).
		if cur, gerr := leases.Get(ctx, w.name, metav1.GetOptions{}); gerr == nil {
			e.log.Debug("node lease conflict; re-read", zap.String("lease", w.name), zap.String("resourceVersion", cur.ResourceVersion))
			return out, cur.ResourceVersion, false
		}
	}
	fields := []zap.Field{zap.String("lease", w.name), zap.String("write", w.kind.String()),
		zap.String("verb", verb), zap.String("resourceVersion", w.rv), zap.Stringer("reason", w.reason)}
	if err != nil {
		e.log.Debug("lease write failed", append(fields, zap.Error(err))...)
		return out, "", overloaded
	}
	e.log.Debug("lease written", fields...)
	if got == nil {
		return out, "", false
	}
	return out, got.ResourceVersion, false
}

// leaseFor builds the whole Lease a write stores: these Leases are ours, so
// an Update replaces everything.
func (e *Elector) leaseFor(w write) *coordinationv1.Lease {
	now := metav1.NewMicroTime(e.clock.Now())
	secs := int32((e.cfg.NodeLeaseDuration + time.Second - 1) / time.Second)
	holder := w.holder
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name:            w.name,
			Namespace:       e.cfg.Namespace,
			ResourceVersion: w.rv,
			Labels:          map[string]string{RoleLabel: RoleVIP},
			Annotations:     maps.Clone(w.annotations),
		},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       &holder,
			LeaseDurationSeconds: &secs,
			RenewTime:            &now,
		},
	}
	if w.kind == writeRenew {
		l.Labels[RoleLabel] = RoleNode
		e.mu.Lock()
		l.Annotations = maps.Clone(e.nodeAnnots)
		e.mu.Unlock()
		return l
	}
	t := w.transitions
	l.Spec.LeaseTransitions = &t
	if w.kind == writeClaim {
		l.Spec.AcquireTime = &now
	}
	return l
}

// shutdown releases every group whose lease names us, within
// shutdownBudget of real time (the clock may be fake in tests, the API
// server is not).
func (e *Elector) shutdown(c *core) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownBudget)
	defer cancel()
	for {
		now := e.clock.Now()
		e.apply(c, now)
		for _, w := range c.shutdown(now) {
			e.perform(ctx, w)
		}
		e.report(c)
		if c.inflight() == 0 || ctx.Err() != nil {
			break
		}
		select {
		case <-e.wake:
		case <-ctx.Done():
		}
	}
	e.log.Info("election stopped", zap.Int("stillInflight", c.inflight()))
}
