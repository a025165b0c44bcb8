package election

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"
)

// These tests drive a real Elector through the fake clientset and a real
// shared informer, on a fake clock. The fake tracker does not implement
// optimistic concurrency, so fakeAPI adds it: writes carry the
// resourceVersion they were read at, and a stale one is a Conflict, as on
// a real API server. Hooks run before a write to inject conflicts (another
// node writes first), errors and delays.

const testNS = "leaselb-system"

var leasesGVR = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}

type fakeAPI struct {
	client *fake.Clientset
	mu     sync.Mutex
	rv     int64
	// down makes every write fail as if the API server were unreachable.
	down bool
	// before runs before a write (verb, lease) from the Elector, unlocked;
	// a non-nil error is returned instead of performing it.
	before func(verb, name string) error
	log    []string // "verb name", every write the Elector attempted
	// inBefore counts the writes held in before (a test's gate), which
	// the rig does not wait for.
	inBefore atomic.Int32
}

func init() {
	// The fake watcher panics when more than DefaultChanSize events wait
	// unread; a burst of 1,000 claims outruns the informer for a moment,
	// which a real watch absorbs.
	watch.DefaultChanSize = 10000
}

func newFakeAPI() *fakeAPI {
	// NewSimpleClientset, not NewClientset: the latter's field-managed
	// tracker builds a REST mapper on every write, which made the
	// 1,000-group benchmark measure the fake instead of the Elector.
	a := &fakeAPI{client: fake.NewSimpleClientset()} //nolint:staticcheck // see above

	a.client.PrependReactor("*", "leases", a.react)
	return a
}

func (a *fakeAPI) react(action k8stesting.Action) (bool, runtime.Object, error) {
	verb := action.GetVerb()
	var name string
	switch verb {
	case "create", "update":
		name = action.(k8stesting.CreateAction).GetObject().(*coordinationv1.Lease).Name
	case "delete":
		name = action.(k8stesting.DeleteAction).GetName()
	default:
		return false, nil, nil
	}
	a.mu.Lock()
	a.log = append(a.log, verb+" "+name)
	down, before := a.down, a.before
	a.mu.Unlock()
	if down {
		return true, nil, errors.New("dial tcp 192.0.2.1:6443: connect: connection refused")
	}
	if before != nil {
		a.inBefore.Add(1)
		err := before(verb, name)
		a.inBefore.Add(-1)
		if err != nil {
			return true, nil, err
		}
	}
	return a.write(action)
}

// write performs a create, update or delete with resourceVersion checks.
func (a *fakeAPI) write(action k8stesting.Action) (bool, runtime.Object, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	tr := a.client.Tracker()
	gr := leasesGVR.GroupResource()
	switch action.GetVerb() {
	case "create":
		l := action.(k8stesting.CreateAction).GetObject().(*coordinationv1.Lease).DeepCopy()
		if _, err := tr.Get(leasesGVR, testNS, l.Name); err == nil {
			return true, nil, apierrors.NewAlreadyExists(gr, l.Name)
		}
		a.rv++
		l.ResourceVersion = strconv.FormatInt(a.rv, 10)
		return true, l, tr.Create(leasesGVR, l, testNS)
	case "update":
		l := action.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease).DeepCopy()
		cur, err := tr.Get(leasesGVR, testNS, l.Name)
		if err != nil {
			return true, nil, err
		}
		if cur.(*coordinationv1.Lease).ResourceVersion != l.ResourceVersion {
			return true, nil, apierrors.NewConflict(gr, l.Name, errors.New("the object has been modified"))
		}
		a.rv++
		l.ResourceVersion = strconv.FormatInt(a.rv, 10)
		return true, l, tr.Update(leasesGVR, l, testNS)
	case "delete":
		act := action.(k8stesting.DeleteAction)
		cur, err := tr.Get(leasesGVR, testNS, act.GetName())
		if err != nil {
			return true, nil, err
		}
		if p := act.GetDeleteOptions().Preconditions; p != nil && p.ResourceVersion != nil &&
			*p.ResourceVersion != cur.(*coordinationv1.Lease).ResourceVersion {
			return true, nil, apierrors.NewConflict(gr, act.GetName(), errors.New("precondition failed"))
		}
		return true, nil, tr.Delete(leasesGVR, testNS, act.GetName())
	}
	return false, nil, nil
}

// put writes a lease as another node would (or a previous run did),
// bypassing the Elector's hooks.
func (a *fakeAPI) put(name, role, holder string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	tr := a.client.Tracker()
	a.rv++
	h := holder
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, ResourceVersion: strconv.FormatInt(a.rv, 10),
			Labels: map[string]string{RoleLabel: role}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &h},
	}
	if _, err := tr.Get(leasesGVR, testNS, name); err == nil {
		_ = tr.Update(leasesGVR, l, testNS)
		return
	}
	_ = tr.Create(leasesGVR, l, testNS)
}

func (a *fakeAPI) get(name string) *coordinationv1.Lease {
	a.mu.Lock()
	defer a.mu.Unlock()
	obj, err := a.client.Tracker().Get(leasesGVR, testNS, name)
	if err != nil {
		return nil
	}
	return obj.(*coordinationv1.Lease)
}

func (a *fakeAPI) holder(name string) string {
	l := a.get(name)
	if l == nil {
		return "<absent>"
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func (a *fakeAPI) count(entry string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, e := range a.log {
		if e == entry {
			n++
		}
	}
	return n
}

func (a *fakeAPI) set(f func(a *fakeAPI)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(a)
}

// rig is one Elector against a fakeAPI.
type rig struct {
	t      testing.TB
	api    *fakeAPI
	clk    *testingclock.FakeClock
	e      *Elector
	cancel context.CancelFunc
	done   chan error
	// others renews these nodes' leases on every clock step, as their
	// speakers would.
	others map[string]bool
}

const me = "node-b"

func newRig(t testing.TB, api *fakeAPI) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactoryWithOptions(api.client, 0, informers.WithNamespace(testNS))
	inf := f.Coordination().V1().Leases().Informer()
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e, err := New(Config{Client: api.client, Leases: inf, Namespace: testNS, Node: me, Clock: clk,
		NodeAnnotations: map[string]string{AnnotationMACs: "02:00:00:00:00:01"},
		Registerer:      prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	r := &rig{t: t, api: api, clk: clk, e: e, cancel: cancel, done: make(chan error, 1), others: map[string]bool{}}
	go func() { r.done <- e.Run(ctx) }()
	t.Cleanup(func() {
		r.stop()
		f.Shutdown()
	})
	return r
}

func (r *rig) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.t.Error("Run did not return after its context was cancelled")
	}
	r.done <- nil // a second stop returns at once
}

// tick advances the fake clock by 10ms, renews the other nodes' leases
// every 500ms, and waits until the Elector has done all it can at that
// time (settle): no test depends on how fast the scheduler runs the loop.
func (r *rig) tick() {
	before := r.clk.Now()
	r.clk.Step(10 * time.Millisecond)
	if before.UnixMilli()/500 != r.clk.Now().UnixMilli()/500 {
		for n := range r.others {
			r.api.put(NodeLeaseName(n), RoleNode, n)
		}
	}
	r.settle()
}

// settle waits until the Elector is settled: it has seen every Lease the
// API server holds and has nothing left to do but wait for the clock or a
// gated write. Real time here is only a hang guard.
func (r *rig) settle() {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !r.e.settled(r.api.leaseVersions(), int(r.api.inBefore.Load())) {
		if time.Now().After(deadline) {
			r.t.Fatalf("the Elector did not settle at fake %v", r.clk.Now().Format("15:04:05.000"))
		}
		goruntime.Gosched()
	}
}

// leaseVersions returns the resourceVersion of every Lease the API server
// holds, by name.
func (a *fakeAPI) leaseVersions() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	objs, err := a.client.Tracker().List(leasesGVR, coordinationv1.SchemeGroupVersion.WithKind("Lease"), testNS)
	out := map[string]string{}
	if err != nil {
		return out
	}
	for _, l := range objs.(*coordinationv1.LeaseList).Items {
		out[l.Name] = l.ResourceVersion
	}
	return out
}

// eventually ticks until cond holds (hang guard: 60s of fake time).
func (r *rig) eventually(what string, cond func() bool) {
	r.t.Helper()
	for range 6000 {
		if cond() {
			return
		}
		r.tick()
	}
	r.t.Fatalf("never happened: %s", what)
}

// never ticks for d of fake time and fails if cond ever holds.
func (r *rig) never(what string, d time.Duration, cond func() bool) {
	r.t.Helper()
	for range int(d / (10 * time.Millisecond)) {
		if cond() {
			r.t.Fatalf("happened at fake %v: %s", r.clk.Now().Format("15:04:05.000"), what)
		}
		r.tick()
	}
}

func (r *rig) holds(g string) bool {
	return slices.ContainsFunc(r.e.Held(), func(h Held) bool { return h.Group == g })
}

func spec(name string, candidate bool, cands ...string) GroupSpec {
	return GroupSpec{Name: name, Candidate: candidate, Candidates: cands,
		Annotations: map[string]string{"leaselb.io/ips": name}}
}

// otherFirst returns a node name that ranks above me for group.
func otherFirst(group string) string {
	for i := range 100 {
		n := fmt.Sprintf("node-x%d", i)
		if rankOf(me, group, []string{me, n}) == 1 {
			return n
		}
	}
	panic("no node ranks above " + me)
}

func TestElectorTransitions(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, api *fakeAPI)
	}{
		{"new group: rank 0 creates the lease and holds it", func(t *testing.T, api *fakeAPI) {
			r := newRig(t, api)
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me)})
			r.eventually("holding vip-192.0.2.10", func() bool { return r.holds("vip-192.0.2.10") })
			select {
			case <-r.e.Changed():
			default:
				t.Error("Changed() was not notified")
			}
			l := api.get("vip-192.0.2.10")
			if l.Labels[RoleLabel] != RoleVIP || *l.Spec.HolderIdentity != me || l.Annotations["leaselb.io/ips"] != "vip-192.0.2.10" {
				t.Errorf("VIP lease = %+v %+v", l.ObjectMeta, l.Spec)
			}
			n := api.get(NodeLeaseName(me))
			if n == nil || n.Labels[RoleLabel] != RoleNode || *n.Spec.HolderIdentity != me ||
				*n.Spec.LeaseDurationSeconds != 2 || n.Annotations["leaselb.io/macs"] == "" {
				t.Errorf("node lease = %+v", n)
			}
			if h, ok := r.e.Holder("vip-192.0.2.10"); !ok || h != me {
				r.eventually("Holder() from the cache", func() bool { h, ok := r.e.Holder("vip-192.0.2.10"); return ok && h == me })
			}
			if err := r.e.Healthy(); err != nil {
				t.Errorf("Healthy() = %v", err)
			}
		}},
		{"before SetGroups nothing is claimed or collected", func(t *testing.T, api *fakeAPI) {
			api.put("vip-203.0.113.9", RoleVIP, "")
			r := newRig(t, api)
			r.never("a VIP write", 5*time.Second, func() bool {
				return api.count("create vip-203.0.113.9")+api.count("delete vip-203.0.113.9") > 0 || len(r.e.Held()) > 0
			})
		}},
		{"create race lost: AlreadyExists, no blind retry", func(t *testing.T, api *fakeAPI) {
			other := "node-c"
			api.put(NodeLeaseName(other), RoleNode, other)
			api.before = func(verb, name string) error {
				if verb == "create" && name == "vip-192.0.2.10" {
					api.put(name, RoleVIP, other) // the other node's create lands first
				}
				return nil
			}
			r := newRig(t, api)
			r.others[other] = true
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me)})
			r.eventually("a create attempt", func() bool { return api.count("create vip-192.0.2.10") == 1 })
			r.never("holding a group another node created", 5*time.Second, func() bool {
				return r.holds("vip-192.0.2.10") || api.count("create vip-192.0.2.10") > 1 || api.count("update vip-192.0.2.10") > 0
			})
		}},
		{"claim of a released lease loses a race: Conflict, re-read", func(t *testing.T, api *fakeAPI) {
			other := "node-c"
			api.put(NodeLeaseName(other), RoleNode, other)
			api.put("vip-192.0.2.10", RoleVIP, "")
			api.before = func(verb, name string) error {
				if verb == "update" && name == "vip-192.0.2.10" {
					api.put(name, RoleVIP, other)
				}
				return nil
			}
			r := newRig(t, api)
			r.others[other] = true
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me, other)})
			r.eventually("an update attempt", func() bool { return api.count("update vip-192.0.2.10") == 1 })
			r.never("holding or retrying", 5*time.Second, func() bool {
				return r.holds("vip-192.0.2.10") || api.count("update vip-192.0.2.10") > 1
			})
			if h := api.holder("vip-192.0.2.10"); h != other {
				t.Errorf("holder = %q, want %q", h, other)
			}
		}},
		{"restart: a lease naming us is held only after renewal and a conditional rewrite", func(t *testing.T, api *fakeAPI) {
			api.put(NodeLeaseName(me), RoleNode, me)
			api.put("vip-192.0.2.10", RoleVIP, me)
			rv := api.get("vip-192.0.2.10").ResourceVersion
			api.down = true
			r := newRig(t, api)
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me)})
			r.never("holding while the API server is unreachable", 3*time.Second, func() bool { return len(r.e.Held()) > 0 })
			if err := r.e.Healthy(); err == nil {
				t.Error("Healthy() = nil while the node lease cannot be renewed")
			}
			api.set(func(a *fakeAPI) { a.down = false })
			r.eventually("adopting vip-192.0.2.10", func() bool { return r.holds("vip-192.0.2.10") })
			if got := api.get("vip-192.0.2.10").ResourceVersion; got == rv {
				t.Errorf("held without rewriting the lease (resourceVersion still %s)", rv)
			}
			r.eventually("healthy again", func() bool { return r.e.Healthy() == nil })
		}},
		{"restart: adoption loses to a successor", func(t *testing.T, api *fakeAPI) {
			other := "node-c"
			api.put(NodeLeaseName(other), RoleNode, other)
			api.put("vip-192.0.2.10", RoleVIP, me)
			api.before = func(verb, name string) error {
				if verb == "update" && name == "vip-192.0.2.10" {
					api.put(name, RoleVIP, other)
				}
				return nil
			}
			r := newRig(t, api)
			r.others[other] = true
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me, other)})
			r.eventually("an adoption attempt", func() bool { return api.count("update vip-192.0.2.10") == 1 })
			r.never("holding", 5*time.Second, func() bool { return r.holds("vip-192.0.2.10") })
		}},
		{"live holder keeps its group; expired holder loses it after the duration", func(t *testing.T, api *fakeAPI) {
			other := otherFirst("vip-192.0.2.10")
			api.put(NodeLeaseName(other), RoleNode, other)
			api.put("vip-192.0.2.10", RoleVIP, other)
			r := newRig(t, api)
			r.others[other] = true
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me, other)})
			r.never("claiming from a live holder", 10*time.Second, func() bool {
				return api.count("update vip-192.0.2.10") > 0
			})
			delete(r.others, other) // the other node dies
			died := r.clk.Now()
			r.eventually("taking over", func() bool { return r.holds("vip-192.0.2.10") })
			if waited := r.clk.Since(died); waited < DefaultNodeLeaseDuration-500*time.Millisecond {
				t.Errorf("took over %v after the holder's last renewal, before the lease duration", waited)
			}
			if h := api.holder("vip-192.0.2.10"); h != me {
				t.Errorf("holder = %q", h)
			}
		}},
		{"rank 1 waits one rank step for a free group", func(t *testing.T, api *fakeAPI) {
			other := otherFirst("vip-192.0.2.10")
			api.put(NodeLeaseName(other), RoleNode, other)
			r := newRig(t, api)
			r.others[other] = true
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me, other)})
			r.eventually("our node lease", func() bool { return api.get(NodeLeaseName(me)) != nil })
			start := r.clk.Now()
			r.eventually("claiming", func() bool { return r.holds("vip-192.0.2.10") })
			if waited := r.clk.Since(start); waited < DefaultRankStep-20*time.Millisecond {
				t.Errorf("rank 1 claimed after %v, want >= %v", waited, DefaultRankStep)
			}
		}},
		{"no longer a candidate: release at once", func(t *testing.T, api *fakeAPI) {
			r := newRig(t, api)
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me)})
			r.eventually("holding", func() bool { return r.holds("vip-192.0.2.10") })
			<-r.e.Changed()
			s := spec("vip-192.0.2.10", false, "node-c")
			s.Reason = "noLocalEndpoint"
			r.e.SetGroups([]GroupSpec{s})
			r.eventually("released", func() bool { return api.holder("vip-192.0.2.10") == "" })
			if r.holds("vip-192.0.2.10") {
				t.Error("still holding after the release")
			}
			select {
			case <-r.e.Changed():
			default:
				t.Error("Changed() was not notified of the release")
			}
		}},
		{"group removed: the holder deletes its lease", func(t *testing.T, api *fakeAPI) {
			r := newRig(t, api)
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me), spec("vip-192.0.2.11", true, me)})
			r.eventually("holding both", func() bool { return len(r.e.Held()) == 2 })
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.11", true, me)})
			r.eventually("lease deleted", func() bool { return api.get("vip-192.0.2.10") == nil })
			if r.holds("vip-192.0.2.10") || !r.holds("vip-192.0.2.11") {
				t.Errorf("Held() = %v", r.e.Held())
			}
		}},
		{"orphaned lease: collected by the lowest live node", func(t *testing.T, api *fakeAPI) {
			api.put("vip-203.0.113.9", RoleVIP, "node-gone")
			api.put("vip-203.0.113.10", RoleVIP, "")
			r := newRig(t, api)
			r.others["node-c"] = true
			r.e.SetGroups(nil)
			r.eventually("both deleted", func() bool {
				return api.get("vip-203.0.113.9") == nil && api.get("vip-203.0.113.10") == nil
			})
		}},
		{"orphaned lease: left to a lower live node", func(t *testing.T, api *fakeAPI) {
			api.put(NodeLeaseName("node-a"), RoleNode, "node-a")
			api.put("vip-203.0.113.10", RoleVIP, "")
			r := newRig(t, api)
			r.others["node-a"] = true
			r.e.SetGroups(nil)
			r.never("deleting", 5*time.Second, func() bool { return api.count("delete vip-203.0.113.10") > 0 })
		}},
		{"node lease of a node gone for an hour: collected", func(t *testing.T, api *fakeAPI) {
			api.put(NodeLeaseName("node-gone"), RoleNode, "node-gone")
			r := newRig(t, api)
			r.e.SetGroups(nil)
			r.eventually("our node lease", func() bool { return api.get(NodeLeaseName(me)) != nil })
			r.never("deleting a node lease early", 5*time.Second, func() bool { return api.count("delete node-node-gone") > 0 })
			r.clk.Step(time.Hour)
			r.eventually("node-node-gone deleted", func() bool { return api.get(NodeLeaseName("node-gone")) == nil })
		}},
		{"released lease: the releasing node is ranked out", func(t *testing.T, api *fakeAPI) {
			other := otherFirst("vip-192.0.2.10")
			api.put(NodeLeaseName(other), RoleNode, other)
			r := newRig(t, api)
			r.others[other] = true
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me, other)})
			r.eventually("our node lease", func() bool { return api.get(NodeLeaseName(me)) != nil })
			// The other node (ranked first) releases the group it held.
			api.put("vip-192.0.2.10", RoleVIP, "")
			l := api.get("vip-192.0.2.10")
			l.Annotations = map[string]string{AnnotationReleasedBy: other}
			api.set(func(a *fakeAPI) {
				a.rv++
				l.ResourceVersion = strconv.FormatInt(a.rv, 10)
				_ = a.client.Tracker().Update(leasesGVR, l, testNS)
			})
			start := r.clk.Now()
			r.eventually("claiming", func() bool { return r.holds("vip-192.0.2.10") })
			if waited := r.clk.Since(start); waited >= DefaultRankStep {
				t.Errorf("waited %v for a lease released by the node ranked first; want no rank delay", waited)
			}
		}},
		{"fenced: Lost drops at once; re-adopts only after the watch had time", func(t *testing.T, api *fakeAPI) {
			r := newRig(t, api)
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me)})
			r.eventually("holding", func() bool { return r.holds("vip-192.0.2.10") })
			updates := api.count("update vip-192.0.2.10")
			r.e.Lost("vip-192.0.2.10")
			deadline := time.Now().Add(10 * time.Second)
			for r.holds("vip-192.0.2.10") && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond) // no clock step: Lost acts at once
			}
			if r.holds("vip-192.0.2.10") {
				t.Fatal("still holding after Lost")
			}
			r.never("rewriting the lease before one duration", DefaultNodeLeaseDuration-100*time.Millisecond, func() bool {
				return api.count("update vip-192.0.2.10") > updates
			})
			// The lease still names us and nobody else wrote it: the lease
			// rules let us adopt it again.
			r.eventually("re-adopting", func() bool { return r.holds("vip-192.0.2.10") })
		}},
		{"fenced by a real successor: stays lost", func(t *testing.T, api *fakeAPI) {
			other := "node-c"
			api.put(NodeLeaseName(other), RoleNode, other)
			r := newRig(t, api)
			r.others[other] = true
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me, other)})
			r.eventually("holding", func() bool { return r.holds("vip-192.0.2.10") })
			api.put("vip-192.0.2.10", RoleVIP, other)
			r.e.Lost("vip-192.0.2.10")
			r.eventually("dropped", func() bool { return !r.holds("vip-192.0.2.10") })
			r.never("holding again", 5*time.Second, func() bool { return r.holds("vip-192.0.2.10") })
		}},
		{"API server unreachable: keep holding, resume without handover", func(t *testing.T, api *fakeAPI) {
			r := newRig(t, api)
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me)})
			r.eventually("holding", func() bool { return r.holds("vip-192.0.2.10") })
			api.set(func(a *fakeAPI) { a.down = true })
			r.never("dropping the group during the outage", 10*time.Second, func() bool { return !r.holds("vip-192.0.2.10") })
			if err := r.e.Healthy(); !errors.Is(err, ErrUnhealthy) || !errors.Is(err, ErrAPIUnreachable) {
				t.Errorf("Healthy() during the outage = %v, want ErrUnhealthy and ErrAPIUnreachable", err)
			}
			api.set(func(a *fakeAPI) { a.down = false })
			r.eventually("healthy", func() bool { return r.e.Healthy() == nil })
			r.never("dropping the group after the outage", 3*time.Second, func() bool { return !r.holds("vip-192.0.2.10") })
		}},
		{"annotations change: the holder rewrites them", func(t *testing.T, api *fakeAPI) {
			r := newRig(t, api)
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me)})
			r.eventually("holding", func() bool { return r.holds("vip-192.0.2.10") })
			s := spec("vip-192.0.2.10", true, me)
			s.Annotations["leaselb.io/services"] = "default/web"
			r.e.SetGroups([]GroupSpec{s})
			r.eventually("annotations written", func() bool {
				return api.get("vip-192.0.2.10").Annotations["leaselb.io/services"] == "default/web"
			})
			if !r.holds("vip-192.0.2.10") {
				t.Error("dropped the group while rewriting its annotations")
			}
		}},
		{"slow API: a claim that lands after the group stopped being ours is released", func(t *testing.T, api *fakeAPI) {
			gate := make(chan struct{})
			api.before = func(verb, name string) error {
				if verb == "create" && name == "vip-192.0.2.10" {
					<-gate
				}
				return nil
			}
			r := newRig(t, api)
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me)})
			r.eventually("a create in flight", func() bool { return api.count("create vip-192.0.2.10") == 1 })
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", false, "node-c")})
			r.never("holding while the claim is in flight", time.Second, func() bool { return len(r.e.Held()) > 0 })
			close(gate)
			r.eventually("released after the claim landed", func() bool { return api.holder("vip-192.0.2.10") == "" })
			if r.holds("vip-192.0.2.10") {
				t.Error("holding a group this node is not a candidate for")
			}
		}},
		{"slow API: shutdown releases a claim that was in flight", func(t *testing.T, api *fakeAPI) {
			gate := make(chan struct{})
			api.before = func(verb, name string) error {
				if verb == "create" && name == "vip-192.0.2.10" {
					<-gate
				}
				return nil
			}
			r := newRig(t, api)
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me)})
			r.eventually("a create in flight", func() bool { return api.count("create vip-192.0.2.10") == 1 })
			go func() {
				time.Sleep(50 * time.Millisecond)
				close(gate)
			}()
			r.stop()
			if h := api.holder("vip-192.0.2.10"); h != "" {
				t.Errorf("holder after shutdown = %q, want released", h)
			}
		}},
		{"shutdown releases every group held", func(t *testing.T, api *fakeAPI) {
			r := newRig(t, api)
			r.e.SetGroups([]GroupSpec{spec("vip-192.0.2.10", true, me), spec("vip-192.0.2.11", true, me)})
			r.eventually("holding both", func() bool { return len(r.e.Held()) == 2 })
			r.stop()
			for _, g := range []string{"vip-192.0.2.10", "vip-192.0.2.11"} {
				if h := api.holder(g); h != "" {
					t.Errorf("%s holder after shutdown = %q, want released", g, h)
				}
			}
			if len(r.e.Held()) != 0 {
				t.Errorf("Held() after shutdown = %v", r.e.Held())
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newFakeAPI()) })
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	api := newFakeAPI()
	inf := informers.NewSharedInformerFactory(api.client, 0).Coordination().V1().Leases().Informer()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no client", Config{Leases: inf, Namespace: testNS, Node: me}},
		{"no informer", Config{Client: api.client, Namespace: testNS, Node: me}},
		{"no namespace", Config{Client: api.client, Leases: inf, Node: me}},
		{"no node", Config{Client: api.client, Leases: inf, Namespace: testNS}},
		{"renew not shorter than duration", Config{Client: api.client, Leases: inf, Namespace: testNS, Node: me,
			Timing: Timing{NodeLeaseRenew: 2 * time.Second, NodeLeaseDuration: time.Second}}},
		{"idle renew shorter than renew", Config{Client: api.client, Leases: inf, Namespace: testNS, Node: me,
			Timing: Timing{NodeLeaseRenew: time.Second, NodeLeaseDuration: 4 * time.Second, IdleRenew: 500 * time.Millisecond}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("New() error = %v, want ErrConfig", err)
			}
		})
	}
}

func TestTimingValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    Timing
		want string // substring of the error; "" = valid
	}{
		{"defaults", Timing{}, ""},
		{"renew exactly half the duration", Timing{NodeLeaseRenew: time.Second, NodeLeaseDuration: 2 * time.Second}, ""},
		{"renew over half the duration", Timing{NodeLeaseRenew: 1100 * time.Millisecond, NodeLeaseDuration: 2 * time.Second}, "at most every duration/2"},
		{"renew over half the default duration", Timing{NodeLeaseRenew: 1500 * time.Millisecond}, "more than half of --node-lease-duration (2s)"},
		{"idle equal to renew", Timing{NodeLeaseRenew: time.Second, NodeLeaseDuration: 4 * time.Second, IdleRenew: time.Second}, ""},
		{"idle below renew", Timing{NodeLeaseRenew: time.Second, NodeLeaseDuration: 4 * time.Second, IdleRenew: 900 * time.Millisecond}, "--idle-renew (900ms) is shorter"},
		{"negative rank step", Timing{RankStep: -time.Millisecond}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.t.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want ErrConfig saying %q", err, tc.want)
			}
		})
	}
}

func TestNodeOfMACAndCacheCurrentSince(t *testing.T) {
	api := newFakeAPI()
	peer := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: NodeLeaseName("node-c"), Namespace: testNS, ResourceVersion: "1",
		Labels:      map[string]string{RoleLabel: RoleNode},
		Annotations: map[string]string{AnnotationMACs: "02:00:00:00:00:0B, 02:00:00:00:00:0c"}}}
	if err := api.client.Tracker().Create(leasesGVR, peer, testNS); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, api)
	start := r.clk.Now()
	r.eventually("our first renewal echoed", func() bool { return !r.e.CacheCurrentSince().IsZero() })
	if since := r.e.CacheCurrentSince(); since.Before(start) || since.After(r.clk.Now()) {
		t.Errorf("CacheCurrentSince = %v, want the send time of a renewal, between %v and %v", since, start, r.clk.Now())
	}
	for _, tc := range []struct{ mac, want string }{
		{"02:00:00:00:00:0b", "node-c"}, // written in upper case on the lease
		{"02:00:00:00:00:0c", "node-c"},
		{"02:00:00:00:00:01", me}, // ours, from NodeAnnotations
		{"02:de:ad:be:ef:01", ""},
	} {
		mac, err := net.ParseMAC(tc.mac)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.e.NodeOfMAC(mac); got != tc.want {
			t.Errorf("NodeOfMAC(%s) = %q, want %q", tc.mac, got, tc.want)
		}
	}
}

// TestParseList: node lease annotations are read leniently, skipping what a
// speaker of another version may write that this one cannot parse.
func TestParseList(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.1, 2001:db8::1", "192.0.2.1 2001:db8::1"},
		{"192.0.2.1,bogus,,fe80::1%eth0", "192.0.2.1 fe80::1%eth0"},
	} {
		got := fmt.Sprint(parseList(tc.in, netip.ParseAddr))
		if want := "[" + tc.want + "]"; got != want {
			t.Errorf("parseList(%q) = %s, want %s", tc.in, got, want)
		}
	}
}

// TestOvertakenClaimsAreNotSent: a claim that waited for a write slot while
// its lease changed in the cache is dropped as the API server would refuse
// it; writes to leases we hold are always sent (their version may be ahead
// of the cache).
func TestOvertakenClaimsAreNotSent(t *testing.T) {
	inf := informers.NewSharedInformerFactoryWithOptions(fake.NewClientset(), 0, informers.WithNamespace(testNS)).Coordination().V1().Leases().Informer()
	lease := func(name, rv string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name, ResourceVersion: rv}}
	}
	for _, l := range []*coordinationv1.Lease{lease("vip-a", "5"), lease("vip-b", "7")} {
		if err := inf.GetStore().Add(l); err != nil {
			t.Fatal(err)
		}
	}
	e := &Elector{cfg: Config{Leases: inf, Namespace: testNS}}
	for _, tc := range []struct {
		name string
		w    write
		want bool
	}{
		{"create of a lease still absent", write{kind: writeClaim, name: "vip-c"}, false},
		{"create of a lease that now exists", write{kind: writeClaim, name: "vip-a"}, true},
		{"update of the version in the cache", write{kind: writeClaim, name: "vip-a", rv: "5"}, false},
		{"update of an older version", write{kind: writeClaim, name: "vip-b", rv: "6"}, true},
		{"update of a lease deleted since", write{kind: writeClaim, name: "vip-c", rv: "3"}, true},
		{"refresh of a held lease ahead of the cache", write{kind: writeRefresh, name: "vip-b", rv: "9"}, false},
		{"release of a held lease ahead of the cache", write{kind: writeRelease, name: "vip-b", rv: "9"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.overtaken(tc.w); got != tc.want {
				t.Errorf("overtaken = %v, want %v", got, tc.want)
			}
		})
	}
}
