package controller

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/leaselb/leaselb/api/v1alpha1"
	"github.com/leaselb/leaselb/internal/daemon"
)

// TestRestartKeepsIPs restarts the controller (a new term on the same
// objects) after changes that tempt a naive restart into reshuffling: a
// freed low address, new Services that sort first, sharing, dual-stack,
// a requested IP and a pool edited while no controller ran.
func TestRestartKeepsIPs(t *testing.T) {
	h := newHarness(t, []runtime.Object{
		pool("lan", 0, "192.0.2.10-192.0.2.20", "2001:db8::10-2001:db8::20"),
		pool("dmz", 1, "198.51.100.0/29"),
		advert("l2"),
	})
	key := anno(v1alpha1.AnnotationAllowSharedIP, "k")
	h.create(svc("a", created(1)))
	h.create(svc("b", created(2)))
	h.create(svc("c", created(3), key, ports(80)))
	h.create(svc("d", created(4), key, ports(443)))
	h.create(svc("e", created(5), dualStack()))
	h.create(svc("f", created(6), lbIP("192.0.2.19")))
	h.create(svc("g", created(7), anno(v1alpha1.AnnotationAddressPool, "dmz")))
	h.deleteService("a") // frees the lowest address
	names := []string{"b", "c", "d", "e", "f", "g"}
	before := map[string][]string{}
	for _, n := range names {
		before[n] = h.ips(t, n)
	}
	if !slices.Equal(before["c"], before["d"]) {
		t.Fatalf("c and d do not share: %v %v", before["c"], before["d"])
	}

	// While no controller runs: new Services (the oldest creation time,
	// so they sort first), and a pool edit that still covers every IP.
	ctx := context.Background()
	for _, s := range []*corev1.Service{svc("new1", created(0)), svc("new2", created(0))} {
		if _, err := h.kube.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	p := h.pool(t, "lan")
	p.Spec.Addresses = []v1alpha1.AddressRange{"192.0.2.0/24", "2001:db8::/64"}
	if _, err := h.lb.LeaselbV1alpha1().IPAddressPools(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.kube.ClearActions()

	h2 := newHarnessOn(t, h.fakes)
	for _, n := range names {
		h2.wantIPs(n, before[n]...)
		if w := h2.statusWrites(n); w != 0 {
			t.Errorf("restart wrote Service %s's status %d times", n, w)
		}
		h2.wantEvent(n, ReasonIPChanged, 0)
	}
	got := h2.sortedIPs("new1", "new2")
	for _, ip := range got {
		for n, ips := range before {
			if slices.Contains(ips, ip) && n != "c" && n != "d" {
				t.Errorf("new Service got %s, which %s holds", ip, n)
			}
		}
	}
	if len(got) != 2 {
		t.Errorf("new Services got %v, want one IP each", got)
	}
}

func TestRestartRepairs(t *testing.T) {
	tests := []struct {
		name     string
		objs     []runtime.Object
		svc      string
		want     []string
		event    string   // reason of the Event on svc
		parts    []string // of its message
		keepName string   // another Service whose IP must not move
		keepIPs  []string
	}{
		{
			name: "status IP in no pool",
			objs: []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), svc("x", status("203.0.113.5"))},
			svc:  "x", want: []string{"192.0.2.10"}, event: ReasonIPChanged,
			parts: []string{"from 203.0.113.5 to 192.0.2.10", "203.0.113.5 could not be kept", "no pool"},
		},
		{
			name: "status garbage",
			objs: []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), svc("x", status("not-an-ip"))},
			svc:  "x", want: []string{"192.0.2.10"}, event: ReasonIPAllocated,
		},
		{
			name: "two Services claim one IP: the older keeps it",
			objs: []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"),
				svc("young", created(5), status("192.0.2.12")), svc("old", created(1), status("192.0.2.12"))},
			svc: "young", want: []string{"192.0.2.10"}, event: ReasonIPChanged, parts: []string{"192.0.2.12 could not be kept"},
			keepName: "old", keepIPs: []string{"192.0.2.12"},
		},
		{
			name: "IP in a pool rejected for overlap is kept",
			objs: []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), pool("late", 1, "192.0.2.20-192.0.2.30"),
				svc("x", status("192.0.2.25"))},
			svc: "x", want: []string{"192.0.2.25"}, event: ReasonAllocationFailed,
			parts: []string{"keeping 192.0.2.25", `pool "late" is invalid`},
		},
		{
			name: "IP kept while a pool does not parse",
			objs: []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), pool("broken", 1, "192.0.2.30-192.0.2.3x"),
				svc("x", status("192.0.2.35"))},
			svc: "x", want: []string{"192.0.2.35"}, event: ReasonAllocationFailed,
			parts: []string{"keeping 192.0.2.35", `pool "broken" is invalid`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, append(tt.objs, advert("l2")))
			h.wantIPs(tt.svc, tt.want...)
			h.wantEvent(tt.svc, tt.event, 1, tt.parts...)
			if tt.keepName != "" {
				h.wantIPs(tt.keepName, tt.keepIPs...)
				if n := h.statusWrites(tt.keepName); n != 0 {
					t.Errorf("%d status writes on %s, want 0", n, tt.keepName)
				}
			}
		})
	}
}

// running is one controller started with Run on real informers.
type running struct {
	c      *Controller
	cancel context.CancelFunc
	done   chan error
	reg    *prometheus.Registry
	health *daemon.Health
	rec    *recorder
	once   *sync.Once
}

func start(t *testing.T, f fakes, le LeaderElection) *running {
	t.Helper()
	r := &running{reg: prometheus.NewRegistry(), health: &daemon.Health{}, rec: &recorder{}, done: make(chan error, 1)}
	r.once = &sync.Once{}
	c, err := New(Config{Kube: f.kube, Leaselb: f.lb, Namespace: ns, Log: zaptest.NewLogger(t).Named(le.Identity),
		Registerer: r.reg, Health: r.health, Recorder: r.rec, LeaderElection: le})
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return within 30s of cancel")
		}
	})
}

// waitFor polls cond until it holds; the timeout is generous because a
// slow machine must not fail the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func (f fakes) ipsNow(name string) []string {
	s, err := f.kube.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	var out []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		out = append(out, in.IP)
	}
	return out
}

// TestRunRestart runs the whole controller (informers, queue, worker) on
// the fake clientsets, stops it, and starts a new one on the same objects.
func TestRunRestart(t *testing.T) {
	var objs []runtime.Object
	objs = append(objs, pool("lan", 0, "192.0.2.0/27"), advert("l2"))
	for i := range 10 {
		objs = append(objs, svc(fmt.Sprintf("s%d", i), created(i)))
	}
	f := newFakes(objs...)
	r1 := start(t, f, LeaderElection{})
	before := map[string][]string{}
	waitFor(t, "every Service to get an IP", func() bool {
		for i := range 10 {
			n := fmt.Sprintf("s%d", i)
			before[n] = f.ipsNow(n)
			if len(before[n]) != 1 {
				return false
			}
		}
		return true
	})
	if !r1.c.ready.Load() {
		t.Error("not ready after the caches synced")
	}
	r1.stop(t)

	// Free the lowest IP and add a Service while nothing runs.
	ctx := context.Background()
	if err := f.kube.CoreV1().Services("default").Delete(ctx, "s0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	freed := before["s0"]
	delete(before, "s0")
	if _, err := f.kube.CoreV1().Services("default").Create(ctx, svc("late", created(-1)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.kube.ClearActions()

	r2 := start(t, f, LeaderElection{})
	waitFor(t, "the new Service to get an IP", func() bool { return len(f.ipsNow("late")) == 1 })
	for n, ips := range before {
		if got := f.ipsNow(n); !slices.Equal(got, ips) {
			t.Errorf("Service %s: %v before the restart, %v after", n, ips, got)
		}
		if w := f.statusWrites(n); w != 0 {
			t.Errorf("restart wrote Service %s's status %d times", n, w)
		}
	}
	if got := f.ipsNow("late"); !slices.Equal(got, freed) || got[0] != "192.0.2.0" {
		t.Errorf("new Service got %v, want the freed %v, which the oldest Service had: 192.0.2.0", got, freed)
	}
	// A change after the start goes through the watch.
	if _, err := f.kube.CoreV1().Services("default").Create(ctx, svc("later"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a Service created while running to get an IP", func() bool { return len(f.ipsNow("later")) == 1 })
	r2.stop(t)
}

// TestLeaderElection runs two replicas on one Lease: one works, the other
// waits; when the leader stops it hands over at once and nothing moves.
func TestLeaderElection(t *testing.T) {
	f := newFakes(pool("lan", 0, "192.0.2.0/27"), advert("l2"), svc("a"))
	le := func(id string) LeaderElection {
		return LeaderElection{Enabled: true, Identity: id,
			LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RenewPeriod: 100 * time.Millisecond}
	}
	r1 := start(t, f, le("one"))
	waitFor(t, "one to lead and allocate", func() bool { return len(f.ipsNow("a")) == 1 })
	ipA := f.ipsNow("a")
	r2 := start(t, f, le("two"))
	waitFor(t, "two to sync its caches", func() bool { return r2.c.ready.Load() })
	if v := value(t, r1.c.metrics.leader); v != 1 {
		t.Errorf("one: is_leader = %v, want 1", v)
	}
	if v := value(t, r2.c.metrics.leader); v != 0 {
		t.Errorf("two: is_leader = %v, want 0", v)
	}
	r1.stop(t) // releases the Lease
	waitFor(t, "two to lead", func() bool { return value(t, r2.c.metrics.leader) == 1 })
	ctx := context.Background()
	if _, err := f.kube.CoreV1().Services("default").Create(ctx, svc("b"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two to allocate", func() bool { return len(f.ipsNow("b")) == 1 })
	if got := f.ipsNow("a"); !slices.Equal(got, ipA) {
		t.Errorf("a moved from %v to %v on the handover", ipA, got)
	}
	if slices.Equal(f.ipsNow("b"), ipA) {
		t.Errorf("b got a's IP %v", ipA)
	}
	lease, err := f.kube.CoordinationV1().Leases(ns).Get(ctx, LeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "two" {
		t.Errorf("Lease holder = %v, want two", lease.Spec.HolderIdentity)
	}
	if err := r2.c.elector.Check(); err != nil {
		t.Errorf("leader-election liveness: %v", err)
	}
}
