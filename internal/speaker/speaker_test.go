package speaker

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/leaselb/leaselb/election"
	lbfake "github.com/leaselb/leaselb/internal/client/clientset/versioned/fake"
	"github.com/leaselb/leaselb/internal/daemon"
)

// These tests run real Speakers (informers, the real election, the loop)
// against fake clientsets, with a fake announcer in place of raw sockets
// and the real clock: they take a few seconds.

var leasesGVR = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}

// conditionalLeases makes the fake clientset's Lease writes behave like an
// API server's: resourceVersions are assigned, and a write at a stale one is
// a Conflict. The fake tracker does neither.
func conditionalLeases(c *fake.Clientset) {
	var mu sync.Mutex
	var rv int64
	tr := c.Tracker()
	gr := leasesGVR.GroupResource()
	c.PrependReactor("*", "leases", func(action k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		switch action.GetVerb() {
		case "create":
			l := action.(k8stesting.CreateAction).GetObject().(*coordinationv1.Lease).DeepCopy()
			if _, err := tr.Get(leasesGVR, l.Namespace, l.Name); err == nil {
				return true, nil, apierrors.NewAlreadyExists(gr, l.Name)
			}
			rv++
			l.ResourceVersion = strconv.FormatInt(rv, 10)
			return true, l, tr.Create(leasesGVR, l, l.Namespace)
		case "update":
			l := action.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease).DeepCopy()
			cur, err := tr.Get(leasesGVR, l.Namespace, l.Name)
			if err != nil {
				return true, nil, err
			}
			if cur.(*coordinationv1.Lease).ResourceVersion != l.ResourceVersion {
				return true, nil, apierrors.NewConflict(gr, l.Name, errors.New("the object has been modified"))
			}
			rv++
			l.ResourceVersion = strconv.FormatInt(rv, 10)
			return true, l, tr.Update(leasesGVR, l, l.Namespace)
		case "delete":
			act := action.(k8stesting.DeleteAction)
			cur, err := tr.Get(leasesGVR, act.GetNamespace(), act.GetName())
			if err != nil {
				return true, nil, err
			}
			if p := act.GetDeleteOptions().Preconditions; p != nil && p.ResourceVersion != nil &&
				*p.ResourceVersion != cur.(*coordinationv1.Lease).ResourceVersion {
				return true, nil, apierrors.NewConflict(gr, act.GetName(), errors.New("precondition failed"))
			}
			return true, nil, tr.Delete(leasesGVR, act.GetNamespace(), act.GetName())
		}
		return false, nil, nil
	})
}

type running struct {
	name   string
	s      *Speaker
	an     *fakeAnnouncer
	health *daemon.Health
	cancel context.CancelFunc
	done   chan error
}

func startSpeaker(t *testing.T, kube *fake.Clientset, lb *lbfake.Clientset, node, mac string) *running {
	t.Helper()
	an := newFakeAnnouncer()
	hw, _ := net.ParseMAC(mac)
	an.macs = []net.HardwareAddr{hw}
	health := &daemon.Health{}
	s, err := New(Config{Kube: kube, Leaselb: lb, Namespace: testNS, Node: node,
		Logger: zaptest.NewLogger(t).Named(node), Registerer: prometheus.NewRegistry(), Health: health, announcer: an})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{name: node, s: s, an: an, health: health, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the speaker and returns how long Run took to return.
func (r *running) stop(t *testing.T) time.Duration {
	if r.cancel == nil {
		return 0
	}
	start := time.Now()
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("%s: Run: %v", r.name, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Run did not return after its context was cancelled", r.name)
	}
	return time.Since(start)
}

func (r *running) announces(group string) bool {
	for _, a := range r.an.announced() {
		if strings.HasPrefix(a, group+"=") {
			return true
		}
	}
	return false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never happened within 30s: %s", what)
}

func leaseHolder(kube *fake.Clientset, name string) string {
	l, err := kube.CoordinationV1().Leases(testNS).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func TestSpeakersElectOneAndHandOverOnStop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real speakers on the real clock for a few seconds")
	}
	const group = "vip-192.0.2.10"
	kube := fake.NewSimpleClientset(node("a"), node("b"), svc("web", "192.0.2.10")) //nolint:staticcheck // NewClientset's field manager is not needed here
	conditionalLeases(kube)
	lb := lbfake.NewSimpleClientset(pool("lan", "192.0.2.0/24"), advert("l2")) //nolint:staticcheck // generated fake offers only this
	a := startSpeaker(t, kube, lb, "a", "02:00:00:00:00:0a")
	b := startSpeaker(t, kube, lb, "b", "02:00:00:00:00:0b")
	byName := map[string]*running{"a": a, "b": b}

	eventually(t, "one node holds and announces the group", func() bool {
		h := leaseHolder(kube, group)
		return h != "" && byName[h] != nil && byName[h].announces(group)
	})
	holder := byName[leaseHolder(kube, group)]
	other := a
	if holder == a {
		other = b
	}
	if other.announces(group) {
		t.Fatalf("both %s and %s announce %s", a.name, b.name, group)
	}
	// Each speaker published its MACs on its node lease.
	for _, r := range []*running{a, b} {
		l, err := kube.CoordinationV1().Leases(testNS).Get(context.Background(), election.NodeLeaseName(r.name), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := r.an.macs[0].String(); l.Annotations[election.AnnotationMACs] != want {
			t.Errorf("node lease of %s: macs %q, want %q", r.name, l.Annotations[election.AnnotationMACs], want)
		}
	}
	eventually(t, "both speakers ready", func() bool {
		return holder.s.Ready() == nil && other.s.Ready() == nil
	})
	if err := holder.s.Alive(); err != nil {
		t.Errorf("holder not alive: %v", err)
	}

	// The release must find the holder silent already: a successor
	// announces the moment it sees it.
	var releasedLoud atomic.Bool
	kube.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease)
		if l.Name == group && (l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "") && holder.announces(group) {
			releasedLoud.Store(true)
		}
		return false, nil, nil
	})
	holder.an.slowStop = 50 * time.Millisecond
	took := holder.stop(t)
	if releasedLoud.Load() {
		t.Errorf("%s released %s while still announcing it", holder.name, group)
	}
	t.Logf("holder %s stopped in %v", holder.name, took.Round(time.Millisecond))
	if holder.announces(group) {
		t.Errorf("%s still announces after stopping", holder.name)
	}
	start := time.Now()
	eventually(t, "the other node takes over", func() bool {
		return leaseHolder(kube, group) == other.name && other.announces(group)
	})
	t.Logf("%s announces %v after the stop returned", other.name, time.Since(start).Round(time.Millisecond))
}

func TestHealthBeforeSync(t *testing.T) {
	kube := fake.NewSimpleClientset() //nolint:staticcheck // as above
	lb := lbfake.NewSimpleClientset() //nolint:staticcheck // as above
	clk := testingclock.NewFakeClock(time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC))
	s, err := New(Config{Kube: kube, Leaselb: lb, Namespace: testNS, Node: "a", Clock: clk, announcer: newFakeAnnouncer()})
	if err != nil {
		t.Fatal(err)
	}
	// Not started: caches never sync.
	if err := s.Alive(); err != nil {
		t.Errorf("Alive during the start grace: %v", err)
	}
	if err := s.Ready(); err == nil || !strings.Contains(err.Error(), "not synced") {
		t.Errorf("Ready before sync = %v, want not synced", err)
	}
	clk.Step(syncGrace + time.Second)
	if err := s.Alive(); err == nil || !strings.Contains(err.Error(), "informers not synced") {
		t.Errorf("Alive after the grace = %v, want informers not synced", err)
	}
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	kube := fake.NewSimpleClientset() //nolint:staticcheck // as above
	lb := lbfake.NewSimpleClientset() //nolint:staticcheck // as above
	for _, cfg := range []Config{
		{Leaselb: lb, Namespace: testNS, Node: "a"},
		{Kube: kube, Namespace: testNS, Node: "a"},
		{Kube: kube, Leaselb: lb, Node: "a"},
		{Kube: kube, Leaselb: lb, Namespace: testNS},
	} {
		cfg.announcer = newFakeAnnouncer()
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
}

func TestAliveDetectsAStuckLeaseWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real speaker on the real clock")
	}
	kube := fake.NewSimpleClientset(node("a")) //nolint:staticcheck // as above
	conditionalLeases(kube)
	lb := lbfake.NewSimpleClientset() //nolint:staticcheck // as above
	r := startSpeaker(t, kube, lb, "a", "02:00:00:00:00:0a")
	eventually(t, "ready", func() bool { return r.s.Ready() == nil && !r.s.el.CacheCurrentSince().IsZero() })
	if err := r.s.Alive(); err != nil {
		t.Fatalf("Alive: %v", err)
	}
	// Holding nothing, the node lease is renewed every 10 s: pretend the
	// watch delivered nothing for two minutes although renewals succeed.
	r.s.mu.Lock()
	r.s.started = time.Now().Add(-3 * time.Minute)
	r.s.cacheSince = func() time.Time { return time.Now().Add(-2 * time.Minute) }
	r.s.mu.Unlock()
	if err := r.s.Alive(); err == nil || !strings.Contains(err.Error(), "watch is stuck") {
		t.Errorf("Alive = %v, want the Lease watch reported stuck", err)
	}
	// Right after API trouble, the reflector's backoff is no reason to restart.
	r.s.mu.Lock()
	r.s.electionBad = time.Now().Add(-10 * time.Second)
	r.s.mu.Unlock()
	if err := r.s.Alive(); err != nil {
		t.Errorf("Alive just after API trouble = %v, want nil", err)
	}
}
