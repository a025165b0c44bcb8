package speaker

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/leaselb/leaselb/api/v1alpha1"
	"github.com/leaselb/leaselb/election"
	lblisters "github.com/leaselb/leaselb/internal/client/listers/api/v1alpha1"
	"github.com/leaselb/leaselb/l2"
)

const me = "a"

// fakeElector models the election simply: with auto, it holds every group
// this node is a candidate for, from the moment SetGroups says so, and drops
// the others; Lost drops a group until the next SetGroups.
type fakeElector struct {
	clk     *testingclock.FakeClock
	auto    bool
	specs   []election.GroupSpec
	sets    int
	held    map[string]time.Time
	lost    []string
	holders map[string]string
	annots  map[string]string
	changed chan struct{}
	// cacheSince is CacheCurrentSince; nodeMACs are the MACs annotation of
	// each node's lease, for NodeOfMAC.
	cacheSince time.Time
	nodeMACs   map[string]string
}

func newFakeElector(clk *testingclock.FakeClock, auto bool) *fakeElector {
	return &fakeElector{clk: clk, auto: auto, held: map[string]time.Time{}, holders: map[string]string{},
		changed: make(chan struct{}, 1), nodeMACs: map[string]string{}}
}

func (f *fakeElector) SetGroups(groups []election.GroupSpec) {
	f.specs = groups
	f.sets++
	if !f.auto {
		return
	}
	exists := map[string]bool{}
	for _, g := range groups {
		exists[g.Name] = true
		if _, ok := f.held[g.Name]; !ok && g.Candidate && !slices.Contains(f.lost, g.Name) {
			f.hold(g.Name)
		} else if !g.Candidate {
			f.drop(g.Name)
		}
	}
	for g := range f.held {
		if !exists[g] {
			f.drop(g)
		}
	}
}

func (f *fakeElector) hold(g string) {
	f.held[g] = f.clk.Now()
	f.holders[g] = me
	f.notify()
}

func (f *fakeElector) drop(g string) {
	if _, ok := f.held[g]; !ok {
		return
	}
	delete(f.held, g)
	if f.holders[g] == me {
		delete(f.holders, g)
	}
	f.notify()
}

func (f *fakeElector) notify() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *fakeElector) Changed() <-chan struct{} { return f.changed }

func (f *fakeElector) Held() []election.Held {
	var out []election.Held
	for _, g := range sortedKeys(f.held) {
		out = append(out, election.Held{Group: g, Since: f.held[g]})
	}
	return out
}

// Lost only records: the real Elector applies it on its own goroutine,
// after the speaker has already stopped announcing.
func (f *fakeElector) Lost(g string) { f.lost = append(f.lost, g) }

// applyLost is the Elector catching up with Lost.
func (f *fakeElector) applyLost() {
	for _, g := range f.lost {
		f.drop(g)
	}
}

func (f *fakeElector) Holder(g string) (string, bool) {
	h, ok := f.holders[g]
	return h, ok
}

func (f *fakeElector) SetNodeAnnotations(a map[string]string) { f.annots = a }

func (f *fakeElector) CacheCurrentSince() time.Time { return f.cacheSince }

func (f *fakeElector) NodeOfMAC(mac net.HardwareAddr) string {
	for _, node := range sortedKeys(f.nodeMACs) {
		for _, m := range strings.Split(f.nodeMACs[node], ",") {
			if hw, err := net.ParseMAC(strings.TrimSpace(m)); err == nil && bytes.Equal(hw, mac) {
				return node
			}
		}
	}
	return ""
}

func (f *fakeElector) spec(name string) (election.GroupSpec, bool) {
	for _, s := range f.specs {
		if s.Name == name {
			return s, true
		}
	}
	return election.GroupSpec{}, false
}

// fakeAnnouncer records the desired set; every IP answers on eth0 unless
// the announcement names interfaces.
type fakeAnnouncer struct {
	mu     sync.Mutex
	last   []l2.Announcement
	sets   int
	macs   []net.HardwareAddr
	addrs  []netip.Addr
	claims chan l2.Claim
	none   bool                // no interface can announce anything
	dark   map[netip.Addr]bool // these IPs have no interface
	// slowStop delays a Set that stops everything, as sockets can take a
	// moment to close.
	slowStop time.Duration
	// links are what Links returns: by default one eth0 on the tests'
	// subnets; linksCh is LinksChanged; reannounced records Reannounce.
	links       []l2.Link
	linksCh     chan struct{}
	reannounced [][]netip.Addr
}

func newFakeAnnouncer() *fakeAnnouncer {
	mac, _ := net.ParseMAC("02:00:00:00:00:0a")
	eth0 := l2.Link{Name: "eth0", Index: 2, MAC: mac, Up: true, Prefixes: []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/64"), netip.MustParsePrefix("10.0.0.0/8")}}
	return &fakeAnnouncer{macs: []net.HardwareAddr{mac}, claims: make(chan l2.Claim, 16), links: []l2.Link{eth0}, linksCh: make(chan struct{}, 1)}
}

func (f *fakeAnnouncer) Links() []l2.Link {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.links)
}
func (f *fakeAnnouncer) LinksChanged() <-chan struct{} { return f.linksCh }
func (f *fakeAnnouncer) Reannounce(ips []netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reannounced = append(f.reannounced, slices.Clone(ips))
}

// setLinks replaces the links and tells the speaker.
func (f *fakeAnnouncer) setLinks(links ...l2.Link) {
	f.mu.Lock()
	f.links = links
	f.mu.Unlock()
	select {
	case f.linksCh <- struct{}{}:
	default:
	}
}

func (f *fakeAnnouncer) Set(d []l2.Announcement) {
	if len(d) == 0 && f.slowStop > 0 {
		time.Sleep(f.slowStop) // still answering meanwhile
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last, f.sets = d, f.sets+1
}
func (f *fakeAnnouncer) Claims() <-chan l2.Claim { return f.claims }
func (f *fakeAnnouncer) MACs() []net.HardwareAddr {
	return f.macs
}
func (f *fakeAnnouncer) Addrs() []netip.Addr { return f.addrs }
func (f *fakeAnnouncer) Close() error        { close(f.claims); return nil }

func (f *fakeAnnouncer) Interfaces(ip netip.Addr) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.none || f.dark[ip] {
		return nil
	}
	for _, a := range f.last {
		if slices.Contains(a.IPs, ip) {
			if a.Interfaces == nil {
				return []string{"eth0"}
			}
			return a.Interfaces
		}
	}
	return nil
}

// announced renders the desired set as "group=ip,ip@ifaces".
func (f *fakeAnnouncer) announced() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, a := range f.last {
		out = append(out, fmt.Sprintf("%s=%s@%s", a.Group, joinIPs(a.IPs), strings.Join(a.Interfaces, "+")))
	}
	return out
}

// recorder collects Events as "Type Reason namespace/name: message".
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) Event(o runtime.Object, typ, reason, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := o.(metav1.Object)
	r.events = append(r.events, fmt.Sprintf("%s %s %s/%s: %s", typ, reason, m.GetNamespace(), m.GetName(), msg))
}

func (r *recorder) Eventf(o runtime.Object, typ, reason, format string, args ...any) {
	r.Event(o, typ, reason, fmt.Sprintf(format, args...))
}

func (r *recorder) AnnotatedEventf(o runtime.Object, _ map[string]string, typ, reason, format string, args ...any) {
	r.Eventf(o, typ, reason, format, args...)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

// harness is a loop over indexers (the informers' caches without the
// informers), a fake elector, a fake announcer and a fake clock.
type harness struct {
	t       testing.TB
	clk     *testingclock.FakeClock
	el      *fakeElector
	an      *fakeAnnouncer
	rec     *recorder
	reg     *prometheus.Registry
	l       *loop
	stores  map[string]cache.Indexer
	started bool
}

func newHarness(t testing.TB, auto bool) *harness {
	clk := testingclock.NewFakeClock(time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC))
	h := &harness{t: t, clk: clk, el: newFakeElector(clk, auto), an: newFakeAnnouncer(), rec: &recorder{},
		reg: prometheus.NewRegistry(), stores: map[string]cache.Indexer{}}
	idx := func(name string) cache.Indexer {
		i := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		h.stores[name] = i
		return i
	}
	m, err := newMetrics(h.reg)
	if err != nil {
		t.Fatal(err)
	}
	h.l = newLoop(loopConfig{node: me, nodeLeaseDuration: 2 * time.Second, clock: clk, log: zaptest.NewLogger(t),
		recorder: h.rec, m: m}, h.el, h.an, sources{
		services:  corelisters.NewServiceLister(idx("services")),
		slices:    discoverylisters.NewEndpointSliceLister(idx("slices")),
		nodes:     corelisters.NewNodeLister(idx("nodes")),
		pools:     lblisters.NewIPAddressPoolLister(idx("pools")).IPAddressPools(testNS),
		ads:       lblisters.NewL2AdvertisementLister(idx("ads")).L2Advertisements(testNS),
		namespace: testNS,
	})
	return h
}

func (h *harness) store(obj runtime.Object) cache.Indexer {
	switch obj.(type) {
	case *corev1.Service:
		return h.stores["services"]
	case *corev1.Node:
		return h.stores["nodes"]
	case *v1alpha1.IPAddressPool:
		return h.stores["pools"]
	case *v1alpha1.L2Advertisement:
		return h.stores["ads"]
	case *coordinationv1.Lease:
		return h.stores["leases"]
	default:
		return h.stores["slices"]
	}
}

// add adds or replaces objects and runs one loop iteration.
func (h *harness) add(objs ...runtime.Object) {
	for _, o := range objs {
		if err := h.store(o).Update(o); err != nil {
			h.t.Fatal(err)
		}
	}
	h.step(true)
}

func (h *harness) remove(objs ...runtime.Object) {
	for _, o := range objs {
		if err := h.store(o).Delete(o); err != nil {
			h.t.Fatal(err)
		}
	}
	h.step(true)
}

// step is one iteration of Speaker.run's loop body.
func (h *harness) step(dirty bool) {
	if dirty || !h.started {
		h.l.recompute()
		h.started = true
	}
	h.l.reconcile()
	h.l.publishNodeAnnotations()
}

// nodeLease puts a peer's node lease listing its MACs.
func (h *harness) nodeLease(node, macs string) { h.el.nodeMACs[node] = macs }

func (h *harness) wantAnnounced(want ...string) {
	h.t.Helper()
	if got := h.an.announced(); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		h.t.Fatalf("announcing %q, want %q", got, want)
	}
}

func (h *harness) wantEvents(want ...string) {
	h.t.Helper()
	got := h.rec.take()
	if len(got) != len(want) {
		h.t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			h.t.Fatalf("event %d:\n got %s\nwant prefix %s", i, got[i], want[i])
		}
	}
}

func baseObjects() []runtime.Object {
	return []runtime.Object{
		pool("lan", "192.0.2.0/24", "2001:db8::/64"), advert("l2"),
		node("a"), node("b"), node("c"),
	}
}

func TestLoopAnnouncesWhatItHolds(t *testing.T) {
	h := newHarness(t, false)
	h.add(append(baseObjects(), svc("web", "192.0.2.10", "2001:db8::10"))...)
	spec, ok := h.el.spec("vip-192.0.2.10")
	if !ok {
		t.Fatalf("no spec for vip-192.0.2.10 in %+v", h.el.specs)
	}
	if !spec.Candidate || !reflect.DeepEqual(spec.Candidates, []string{"a", "b", "c"}) {
		t.Fatalf("spec = %+v", spec)
	}
	if spec.Annotations[IPsAnnotation] != "192.0.2.10,2001:db8::10" || spec.Annotations[ServicesAnnotation] != "default/web" {
		t.Errorf("lease annotations = %v", spec.Annotations)
	}
	h.wantAnnounced() // not held yet: nothing on the wire
	if h.an.sets != 0 {
		t.Errorf("Set called %d times before anything was held", h.an.sets)
	}

	h.el.hold("vip-192.0.2.10")
	h.clk.Step(30 * time.Millisecond)
	h.step(false)
	h.wantAnnounced("vip-192.0.2.10=192.0.2.10, 2001:db8::10@")
	h.wantEvents("Normal Announcing default/web: announcing 192.0.2.10, 2001:db8::10 from node a on eth0")
	if got := testutil.ToFloat64(h.l.cfg.m.held); got != 1 {
		t.Errorf("groups_held = %v", got)
	}
	if n := testutil.CollectAndCount(h.l.cfg.m.claimToAnn); n != 1 {
		t.Errorf("claim_to_announce has %d series", n)
	}
	if got := testutil.ToFloat64(h.l.cfg.m.candidacy.WithLabelValues(string(ReasonCandidate))); got != 1 {
		t.Errorf("candidacy{candidate} = %v", got)
	}

	// Nothing changed: no second Set, no second Event.
	sets := h.an.sets
	h.step(true)
	if h.an.sets != sets {
		t.Errorf("Set called again without a change")
	}
	h.wantEvents()
	if h.el.sets != 1 {
		t.Errorf("SetGroups called %d times for one state", h.el.sets)
	}
	// The MACs were published once.
	if h.el.annots[election.AnnotationMACs] != "02:00:00:00:00:0a" {
		t.Errorf("node annotations = %v", h.el.annots)
	}
}

func TestLoopInterfacesFromAdvertisements(t *testing.T) {
	h := newHarness(t, true)
	h.an.links = append(h.an.links, wlink("eth1", true), wlink("eth2", true), wlink("eth3", true))
	h.add(pool("v4", "192.0.2.0/24"), pool("v6", "2001:db8::/64"), node("a"),
		advert("x", pools("v4"), ifaces("eth1")), advert("y", pools("v6"), ifaces("eth2", "eth3")),
		svc("web", "192.0.2.10", "2001:db8::10"))
	h.wantAnnounced("vip-192.0.2.10=192.0.2.10@eth1", "vip-192.0.2.10=2001:db8::10@eth2+eth3")
	h.wantEvents("Normal Announcing default/web: announcing 192.0.2.10, 2001:db8::10 from node a on eth1, eth2, eth3")
}

func TestLoopWarnsWhenNoInterfaceAnnounces(t *testing.T) {
	h := newHarness(t, true)
	h.an.none = true
	h.add(append(baseObjects(), svc("web", "192.0.2.10"))...)
	h.wantEvents("Warning Announcing default/web: node a holds 192.0.2.10 but no interface")
}

func TestLoopWarnsWhenAnIPHasNoInterface(t *testing.T) {
	h := newHarness(t, true)
	h.an.dark = map[netip.Addr]bool{netip.MustParseAddr("2001:db8::10"): true}
	h.add(append(baseObjects(), svc("web", "192.0.2.10", "2001:db8::10"))...)
	h.wantEvents("Warning Announcing default/web: announcing 192.0.2.10 from node a on eth0; 2001:db8::10 on no interface: no interface of the node")
}

func TestLoopReleases(t *testing.T) {
	tests := []struct {
		name   string
		change func(h *harness)
		events []string
		reason Reason
	}{
		{
			name:   "Service deleted: no Event, nothing left to put it on",
			change: func(h *harness) { h.remove(svc("web", "192.0.2.10")) },
			reason: ReasonGroupRemoved,
		},
		{
			name:   "IP changed: the old group is gone",
			change: func(h *harness) { h.add(svc("web", "192.0.2.11")) },
			events: []string{"Normal Released default/web: node a stopped announcing 192.0.2.10: groupRemoved",
				"Normal Announcing default/web: announcing 192.0.2.11"},
			reason: ReasonGroupRemoved,
		},
		{
			name:   "node excluded",
			change: func(h *harness) { h.add(node("a", label(v1alpha1.LabelExcludeFromLB, ""))) },
			events: []string{"Normal Released default/web: node a stopped announcing 192.0.2.10: nodeExcluded: node a carries the label"},
			reason: ReasonNodeExcluded,
		},
		{
			name:   "advertisement narrowed to other nodes",
			change: func(h *harness) { h.add(advert("l2", nodeSelector(map[string]string{"kubernetes.io/hostname": "b"}))) },
			events: []string{"Normal Released default/web: node a stopped announcing 192.0.2.10: nodeNotSelected"},
			reason: ReasonNodeNotSelected,
		},
		{
			name:   "advertisement deleted",
			change: func(h *harness) { h.remove(advert("l2")) },
			events: []string{"Normal Released default/web: node a stopped announcing 192.0.2.10: noAdvertisement"},
			reason: ReasonNoAdvertisement,
		},
		{
			name:   "last local endpoint gone",
			change: func(h *harness) { h.add(with(svc("web", "192.0.2.10"), local())) },
			events: []string{"Normal Released default/web: node a stopped announcing 192.0.2.10: noLocalEndpoint"},
			reason: ReasonNoLocalEndpoint,
		},
		{
			name: "taken over by another node",
			change: func(h *harness) {
				h.el.drop("vip-192.0.2.10")
				h.el.holders["vip-192.0.2.10"] = "b"
				h.step(false)
			},
			events: []string{"Normal Released default/web: node a stopped announcing 192.0.2.10: takenOver: node b holds its lease now"},
			reason: ReasonTakenOver,
		},
		{
			name: "lease lost without a new holder",
			change: func(h *harness) {
				h.el.drop("vip-192.0.2.10")
				h.step(false)
			},
			events: []string{"Normal Released default/web: node a stopped announcing 192.0.2.10: leaseLost"},
			reason: ReasonLeaseLost,
		},
		{
			name:   "shutdown",
			change: func(h *harness) { h.l.stop() },
			events: []string{"Normal Released default/web: node a stopped announcing 192.0.2.10: shutdown"},
			reason: ReasonShutdown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, true)
			h.add(append(baseObjects(), svc("web", "192.0.2.10"))...)
			h.wantAnnounced("vip-192.0.2.10=192.0.2.10@")
			h.rec.take()
			tt.change(h)
			h.step(false) // the election's Changed after its release
			got := h.an.announced()
			if slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "vip-192.0.2.10=") }) {
				t.Fatalf("still announcing: %q", got)
			}
			h.wantEvents(tt.events...)
			if v := testutil.ToFloat64(h.l.cfg.m.handovers.WithLabelValues("out", string(tt.reason))); v != 1 {
				t.Errorf("handovers{out,%s} = %v", tt.reason, v)
			}
		})
	}
}

func TestLoopClaims(t *testing.T) {
	const group = "vip-192.0.2.10"
	peerMAC, _ := net.ParseMAC("02:00:00:00:00:0b")
	foreign, _ := net.ParseMAC("02:de:ad:be:ef:01")
	ip := netip.MustParseAddr("192.0.2.10")
	tests := []struct {
		name string
		// holder is the lease holder the cache shows; fresh says whether
		// the cache delivered our own renewal recently.
		holder    string
		fresh     bool
		mac       net.HardwareAddr
		ip        netip.Addr
		lost      bool
		events    []string
		verdict   string
		conflicts float64
	}{
		{name: "successor holds the lease", holder: "b", fresh: true, mac: peerMAC, ip: ip, lost: true, verdict: "successor",
			events: []string{"Normal Released default/web: node a stopped announcing 192.0.2.10: fenced: node b was seen announcing it on the wire"}},
		{name: "our cache is stale: yield", holder: me, fresh: false, mac: peerMAC, ip: ip, lost: true, verdict: "successor",
			events: []string{"Normal Released default/web: node a stopped announcing 192.0.2.10: fenced"}},
		{name: "predecessor: our lease is current", holder: me, fresh: true, mac: peerMAC, ip: ip, verdict: "predecessor"},
		{name: "foreign host", holder: me, fresh: true, mac: foreign, ip: ip, verdict: "conflict", conflicts: 1,
			events: []string{"Warning IPConflict default/web: 192.0.2.10 is claimed on a's interface eth0 by MAC 02:de:ad:be:ef:01, which belongs to no leaselb speaker"}},
		{name: "IP we do not announce", holder: me, fresh: true, mac: foreign, ip: netip.MustParseAddr("192.0.2.99"), verdict: "stale"},
		{name: "our own MAC from an old lease of ours", holder: me, fresh: true, mac: func() net.HardwareAddr {
			m, _ := net.ParseMAC("02:00:00:00:00:aa")
			return m
		}(), ip: ip, verdict: "stale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, true)
			h.nodeLease("b", "02:00:00:00:00:0B, 02:00:00:00:00:0c")
			h.nodeLease(me, "02:00:00:00:00:aa")
			h.add(append(baseObjects(), svc("web", "192.0.2.10"))...)
			h.rec.take()
			h.el.holders[group] = tt.holder
			if tt.fresh {
				h.el.cacheSince = h.clk.Now()
			}
			h.clk.Step(time.Second)
			h.l.claim(l2.Claim{IP: tt.ip, MAC: tt.mac, Interface: "eth0"})
			if lost := slices.Contains(h.el.lost, group); lost != tt.lost {
				t.Fatalf("Lost called: %v, want %v", lost, tt.lost)
			}
			if tt.lost {
				// Stopped at once, before the election's Changed.
				h.wantAnnounced()
			} else {
				h.wantAnnounced("vip-192.0.2.10=192.0.2.10@")
			}
			h.wantEvents(tt.events...)
			if v := testutil.ToFloat64(h.l.cfg.m.wireClaims.WithLabelValues(tt.verdict)); v != 1 {
				t.Errorf("wire_claims{%s} = %v", tt.verdict, v)
			}
			if v := testutil.ToFloat64(h.l.cfg.m.conflicts); v != tt.conflicts {
				t.Errorf("ip_conflicts = %v, want %v", v, tt.conflicts)
			}
		})
	}
}

func TestLoopConflictEventsAreRateLimited(t *testing.T) {
	h := newHarness(t, true)
	h.add(append(baseObjects(), svc("web", "192.0.2.10"), svc("dns", "192.0.2.10"))...)
	h.rec.take()
	foreign, _ := net.ParseMAC("02:de:ad:be:ef:01")
	other, _ := net.ParseMAC("02:de:ad:be:ef:02")
	claim := func(mac net.HardwareAddr) {
		h.l.claim(l2.Claim{IP: netip.MustParseAddr("192.0.2.10"), MAC: mac, Interface: "eth0"})
	}
	claim(foreign)
	h.wantEvents("Warning IPConflict default/dns:", "Warning IPConflict default/web:")
	for range 10 {
		h.clk.Step(time.Second)
		claim(foreign)
	}
	h.wantEvents()
	claim(other) // another MAC is news
	h.wantEvents("Warning IPConflict default/dns:", "Warning IPConflict default/web:")
	h.clk.Step(conflictEventInterval)
	claim(foreign)
	h.wantEvents("Warning IPConflict default/dns:", "Warning IPConflict default/web:")
	if v := testutil.ToFloat64(h.l.cfg.m.conflicts); v != 13 {
		t.Errorf("ip_conflicts = %v, want 13 (every frame counts)", v)
	}
	h.wantAnnounced("vip-192.0.2.10=192.0.2.10@") // a foreign host does not make us yield
}

func TestLoopFencedGroupIsAnnouncedAgainOnANewTerm(t *testing.T) {
	const group = "vip-192.0.2.10"
	h := newHarness(t, false)
	h.nodeLease("b", "02:00:00:00:00:0b")
	h.add(append(baseObjects(), svc("web", "192.0.2.10"))...)
	h.el.hold(group)
	h.step(false)
	h.el.holders[group] = "b"
	mac, _ := net.ParseMAC("02:00:00:00:00:0b")
	h.l.claim(l2.Claim{IP: netip.MustParseAddr("192.0.2.10"), MAC: mac, Interface: "eth0"})
	h.wantAnnounced()
	h.el.applyLost()
	h.step(false)
	h.wantAnnounced()
	// A lawful new claim later (b died): a new term is announced again.
	h.clk.Step(5 * time.Second)
	h.el.lost = nil
	h.el.hold(group)
	h.step(false)
	h.wantAnnounced("vip-192.0.2.10=192.0.2.10@")
}

func TestLoopFencedTermStaysSilentUntilTheElectionCatchesUp(t *testing.T) {
	const group = "vip-192.0.2.10"
	h := newHarness(t, false)
	h.nodeLease("b", "02:00:00:00:00:0b")
	h.add(append(baseObjects(), svc("web", "192.0.2.10"))...)
	h.el.hold(group)
	h.step(false)
	since := h.el.held[group]
	h.el.holders[group] = "b"
	mac, _ := net.ParseMAC("02:00:00:00:00:0b")
	h.l.claim(l2.Claim{IP: netip.MustParseAddr("192.0.2.10"), MAC: mac, Interface: "eth0"})
	// The election has not applied Lost yet: Held() still shows the term,
	// through any number of loop iterations.
	for range 3 {
		h.step(true)
		h.wantAnnounced()
	}
	if h.el.held[group] != since {
		t.Fatal("the fake dropped the group early")
	}
	h.el.applyLost()
	h.step(false)
	h.wantAnnounced()
	if len(h.l.fenced) != 0 {
		t.Errorf("fenced terms left after the election caught up: %v", h.l.fenced)
	}
}

func TestLoopPublishesMACAndAddressChanges(t *testing.T) {
	h := newHarness(t, true)
	h.add(baseObjects()...)
	if h.el.annots[election.AnnotationMACs] != "02:00:00:00:00:0a" {
		t.Fatalf("annotations = %v", h.el.annots)
	}
	m2, _ := net.ParseMAC("02:00:00:00:00:09")
	h.an.macs = append(h.an.macs, m2)
	h.step(false)
	if h.el.annots[election.AnnotationMACs] != "02:00:00:00:00:09,02:00:00:00:00:0a" {
		t.Fatalf("annotations = %v", h.el.annots)
	}
	h.an.mu.Lock()
	h.an.addrs = []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}
	h.an.mu.Unlock()
	h.step(false)
	if h.el.annots[election.AnnotationAddrs] != "192.0.2.1,2001:db8::1" || h.el.annots[election.AnnotationMACs] == "" {
		t.Fatalf("annotations after an address change = %v, want both addresses and the MACs", h.el.annots)
	}
}

// permutations calls f with every order of 0..n-1.
func permutations(n int, f func([]int)) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var rec func(k int)
	rec = func(k int) {
		if k == n {
			f(slices.Clone(p))
			return
		}
		for i := k; i < n; i++ {
			p[k], p[i] = p[i], p[k]
			rec(k + 1)
			p[k], p[i] = p[i], p[k]
		}
	}
	rec(0)
}

// TestLoopPermutations feeds the same cluster changes in every order, each
// followed by a loop iteration, and checks that the end state is the same:
// what is announced, what the election was told and which Events tell the
// story.
func TestLoopPermutations(t *testing.T) {
	scenarios := []struct {
		name      string
		events    []runtime.Object
		announced []string
		specs     []string // name:candidate:reason:candidates
		// services are the Services that end announced: each must have had
		// one Announcing Event more than Released Events, and no other
		// Service any.
		services []string
	}{
		{
			name: "walkthrough",
			events: []runtime.Object{pool("lan", "192.0.2.0/24"), advert("l2"), node("a"), node("b"),
				svc("web", "192.0.2.10"), svc("dns", "192.0.2.10")},
			announced: []string{"vip-192.0.2.10=192.0.2.10@"},
			specs:     []string{"vip-192.0.2.10:true::a,b"},
			services:  []string{"default/dns", "default/web"},
		},
		{
			name: "Local with endpoint here, dual-stack, two pools",
			events: []runtime.Object{pool("v4", "192.0.2.0/24"), pool("v6", "2001:db8::/64"),
				advert("l2", pools("v4", "v6"), ifaces("eth0")), node("a"), node("b"),
				with(svc("web", "192.0.2.10", "2001:db8::10"), local()),
				slice("web", "web-1", ep{node: "a", ready: yes()})},
			announced: []string{"vip-192.0.2.10=192.0.2.10, 2001:db8::10@eth0"},
			specs:     []string{"vip-192.0.2.10:true::a"},
			services:  []string{"default/web"},
		},
		{
			name: "selected elsewhere",
			events: []runtime.Object{pool("lan", "192.0.2.0/24"), node("a"), node("b", label("zone", "b")),
				advert("l2", nodeSelector(map[string]string{"zone": "b"})), svc("web", "192.0.2.10"), svc("other", "192.0.2.20")},
			specs: []string{"vip-192.0.2.10:false:nodeNotSelected:b", "vip-192.0.2.20:false:nodeNotSelected:b"},
		},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			orders := 0
			permutations(len(sc.events), func(order []int) {
				orders++
				h := newHarness(t, true)
				for _, i := range order {
					h.add(sc.events[i])
				}
				h.step(false)
				if got := h.an.announced(); !reflect.DeepEqual(got, sc.announced) && !(len(got) == 0 && len(sc.announced) == 0) {
					t.Fatalf("order %v: announcing %q, want %q", order, got, sc.announced)
				}
				var specs []string
				for _, s := range h.el.specs {
					specs = append(specs, fmt.Sprintf("%s:%v:%s:%s", s.Name, s.Candidate, s.Reason, strings.Join(s.Candidates, ",")))
				}
				if !reflect.DeepEqual(specs, sc.specs) {
					t.Fatalf("order %v: specs %q, want %q", order, specs, sc.specs)
				}
				// Every Announcing is followed by nothing or by a Released
				// and a new Announcing; at the end, what is announced has
				// been announced once more than it was released.
				count := map[string]int{}
				events := h.rec.take()
				for _, e := range events {
					f := strings.Fields(e)
					svcName := strings.TrimSuffix(f[2], ":")
					switch f[1] {
					case EventAnnouncing:
						count[svcName]++
					case EventReleased:
						count[svcName]--
					}
				}
				want := map[string]int{}
				for _, svcName := range sc.services {
					want[svcName] = 1
				}
				maps.DeleteFunc(count, func(_ string, c int) bool { return c == 0 })
				if !maps.Equal(count, want) {
					t.Fatalf("order %v: announced minus released per Service %v, want %v; events:\n%s", order, count, want, strings.Join(events, "\n"))
				}
			})
			t.Logf("%d orders", orders)
		})
	}
}

// BenchmarkRecompute prints the cost of one loop iteration after a cluster
// change with 1,000 Services on 3 nodes, all held here (the worst case:
// every group is announced and compared).
func BenchmarkRecompute(b *testing.B) {
	h := newHarness(b, true)
	h.l.cfg.log = zap.NewNop() // no log lines in the measurement
	objs := []runtime.Object{pool("lan", "10.0.0.0/16"), advert("l2"), node("a"), node("b"), node("c")}
	for i := 0; i < 1000; i++ {
		objs = append(objs, svc(fmt.Sprintf("s%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256)))
	}
	for _, o := range objs {
		_ = h.store(o).Update(o)
	}
	h.step(true)
	b.ResetTimer()
	for b.Loop() {
		h.step(true)
	}
}
