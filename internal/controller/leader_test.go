package controller

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"
)

// These tests run real leaderElectors (informer, loop, writes) against the
// fake clientset on a fake clock. The fake tracker has no optimistic
// concurrency, so leaseAPI adds it: a write carries the resourceVersion it
// was based on, and a stale one is a Conflict, as on a real API server.

var leasesGVR = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}

type leaseAPI struct {
	client *kfake.Clientset
	mu     sync.Mutex
	rv     int64
}

// withLeaseAPI makes c's Lease writes check and bump resourceVersions.
func withLeaseAPI(c *kfake.Clientset) *leaseAPI {
	a := &leaseAPI{client: c, rv: 1000}
	c.PrependReactor("*", "leases", a.react)
	return a
}

func (a *leaseAPI) react(action k8stesting.Action) (bool, runtime.Object, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	tr := a.client.Tracker()
	gr := leasesGVR.GroupResource()
	ns := action.GetNamespace()
	switch action.GetVerb() {
	case "create":
		l := action.(k8stesting.CreateAction).GetObject().(*coordinationv1.Lease).DeepCopy()
		if _, err := tr.Get(leasesGVR, ns, l.Name); err == nil {
			return true, nil, apierrors.NewAlreadyExists(gr, l.Name)
		}
		a.rv++
		l.ResourceVersion = strconv.FormatInt(a.rv, 10)
		return true, l, tr.Create(leasesGVR, l, ns)
	case "update":
		l := action.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease).DeepCopy()
		cur, err := tr.Get(leasesGVR, ns, l.Name)
		if err != nil {
			return true, nil, err
		}
		// An empty resourceVersion is an unconditional update, as on a
		// real API server.
		if l.ResourceVersion != "" && cur.(*coordinationv1.Lease).ResourceVersion != l.ResourceVersion {
			return true, nil, apierrors.NewConflict(gr, l.Name, errors.New("the object has been modified"))
		}
		a.rv++
		l.ResourceVersion = strconv.FormatInt(a.rv, 10)
		return true, l, tr.Update(leasesGVR, l, ns)
	}
	return false, nil, nil
}

// put writes the Lease as someone else would; renewTime is what the
// writer claims, which no elector may trust.
func (a *leaseAPI) put(holder string, renewTime time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rv++
	t := metav1.NewMicroTime(renewTime)
	secs := int32(2)
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: LeaseName, Namespace: ns, ResourceVersion: strconv.FormatInt(a.rv, 10)},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &t, LeaseDurationSeconds: &secs},
	}
	tr := a.client.Tracker()
	if _, err := tr.Get(leasesGVR, ns, LeaseName); err == nil {
		_ = tr.Update(leasesGVR, l, ns)
		return
	}
	_ = tr.Create(leasesGVR, l, ns)
}

func (a *leaseAPI) get() *coordinationv1.Lease {
	a.mu.Lock()
	defer a.mu.Unlock()
	obj, err := a.client.Tracker().Get(leasesGVR, ns, LeaseName)
	if err != nil {
		return nil
	}
	return obj.(*coordinationv1.Lease)
}

// A replicaWriter is one replica's path to the shared fake API server, so
// a test can cut one replica off, make its writes hang, or run something
// (another writer) right before its next write.
type replicaWriter struct {
	api  *leaseAPI
	mu   sync.Mutex
	fail error
	hang chan struct{}
	// lose performs writes but loses their answers (a timeout after the
	// API server applied them).
	lose   bool
	before func() error
	writes []string // "create" or "update@<resourceVersion it was based on>"
}

func (w *replicaWriter) do(ctx context.Context, verb string, l *coordinationv1.Lease,
	call func() (*coordinationv1.Lease, error)) (*coordinationv1.Lease, error) {
	w.mu.Lock()
	w.writes = append(w.writes, verb+"@"+l.ResourceVersion)
	fail, hang, before, lose := w.fail, w.hang, w.before, w.lose
	w.before = nil
	w.mu.Unlock()
	if before != nil {
		if err := before(); err != nil {
			return nil, err
		}
	}
	if hang != nil {
		select {
		case <-hang:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		return nil, fail
	}
	if lose {
		_, _ = call()
		return nil, context.DeadlineExceeded
	}
	return call()
}

func (w *replicaWriter) Create(ctx context.Context, l *coordinationv1.Lease, o metav1.CreateOptions) (*coordinationv1.Lease, error) {
	return w.do(ctx, "create", l, func() (*coordinationv1.Lease, error) {
		return w.api.client.CoordinationV1().Leases(ns).Create(ctx, l, o)
	})
}

func (w *replicaWriter) Update(ctx context.Context, l *coordinationv1.Lease, o metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	return w.do(ctx, "update", l, func() (*coordinationv1.Lease, error) {
		return w.api.client.CoordinationV1().Leases(ns).Update(ctx, l, o)
	})
}

func (w *replicaWriter) set(fail error, hang chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fail, w.hang, w.lose = fail, hang, false
}

func (w *replicaWriter) log() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

var errUnreachable = errors.New("dial tcp 192.0.2.1:6443: connect: connection refused")

// An electionLab is one fake API server, one fake clock, and replicas.
type electionLab struct {
	t     *testing.T
	api   *leaseAPI
	clock *testingclock.FakeClock
	reps  []*replica
	// onStep, if set, runs after every clock step (another writer).
	onStep func()
}

type replica struct {
	id      string
	e       *leaderElector
	w       *replicaWriter
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool
	// working counts this replica's terms whose worker runs.
	working atomic.Int32
	terms   atomic.Int32
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newElectionLab(t *testing.T) *electionLab {
	return &electionLab{t: t, api: withLeaseAPI(kfake.NewClientset()), clock: testingclock.NewFakeClock(epoch)}
}

func (l *electionLab) start(id string) *replica {
	return l.startWith(id, &replicaWriter{api: l.api})
}

// stop ends a replica: gracefully (SIGTERM: release) or as a crash.
func (l *electionLab) stop(r *replica, graceful bool) {
	if r.stopped {
		return
	}
	r.stopped = true
	r.e.releaseOnStop = graceful
	r.w.set(r.w.fail, nil) // a hanging write ends with the process
	r.cancel()
	<-r.done
	l.settle()
}

// settle waits (in real time; the fake clock stands still) until every
// running replica's loop waits with nothing due, has seen the API's
// current version of the Lease, and its worker runs exactly while it leads.
func (l *electionLab) settle() {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cur := ""
		if lease := l.api.get(); lease != nil {
			cur = lease.ResourceVersion
		}
		ok := true
		for _, r := range l.reps {
			if r.stopped {
				continue
			}
			s := r.e.status()
			hanging := r.w.hanging()
			ok = ok && s.synced && (s.settled || hanging) && (s.seenRV == cur || hanging) &&
				(s.wake.IsZero() || s.wake.After(l.clock.Now()))
			w := r.working.Load()
			ok = ok && ((s.leading && w == 1) || (!s.leading && w == 0))
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("replicas did not settle at %s", l.clock.Since(epoch))
		}
		time.Sleep(time.Millisecond)
	}
}

func (w *replicaWriter) hanging() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hang != nil
}

// advance moves the fake clock in 50 ms steps, settling after each, and
// checks after each that at most one replica's worker runs.
func (l *electionLab) advance(d time.Duration) {
	l.t.Helper()
	for step := 50 * time.Millisecond; d > 0; d -= step {
		l.clock.Step(min(step, d))
		if l.onStep != nil {
			l.onStep()
		}
		l.settle()
		l.checkOneLeader()
	}
}

func (l *electionLab) checkOneLeader() {
	l.t.Helper()
	var working []string
	for _, r := range l.reps {
		if r.working.Load() > 0 {
			working = append(working, r.id)
		}
	}
	if len(working) > 1 {
		l.t.Fatalf("at %s two replicas lead at once: %v", l.clock.Since(epoch), working)
	}
}

func (r *replica) leading() bool { return r.e.status().leading }

func holderOf(l *coordinationv1.Lease) string { return holder(l) }

// TestLeaderAcquire covers when a lone replica may take the Lease.
func TestLeaderAcquire(t *testing.T) {
	cases := []struct {
		name string
		// setup prepares the Lease before the replica starts.
		setup func(l *electionLab)
		// after is how long the replica runs; want is whether it leads then.
		after time.Duration
		want  bool
		// writes is the replica's write log when it matters.
		writes []string
	}{
		{name: "absent: create", after: 0, want: true, writes: []string{"create@"}},
		{name: "released: claim at once", setup: func(l *electionLab) { l.api.put("", epoch) }, after: 0, want: true,
			writes: []string{"update@1001"}},
		{name: "held, fresh on our clock although the writer's renewTime is old: wait",
			setup: func(l *electionLab) { l.api.put("other", epoch.Add(-time.Hour)) }, after: 1950 * time.Millisecond, want: false},
		{name: "held, unchanged for the lease duration on our clock although renewTime is in the future: claim",
			setup: func(l *electionLab) { l.api.put("other", epoch.Add(time.Hour)) }, after: 2000 * time.Millisecond, want: true,
			writes: []string{"update@1001"}},
		{name: "held by a renewing leader: never claim",
			setup: func(l *electionLab) {
				l.api.put("other", epoch)
				last := epoch
				l.onStep = func() {
					if l.clock.Since(last) >= time.Second {
						l.api.put("other", epoch)
						last = l.clock.Now()
					}
				}
			}, after: 6 * time.Second, want: false},
		{name: "held, but someone writes first: no blind retry",
			setup: func(l *electionLab) { l.api.put("other", epoch) }, after: 2000 * time.Millisecond, want: false,
			writes: []string{"update@1001"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newElectionLab(t)
			if tc.setup != nil {
				tc.setup(l)
			}
			r := l.start("me")
			if tc.name == "held, but someone writes first: no blind retry" {
				r.w.mu.Lock()
				r.w.before = func() error { l.api.put("other", epoch); return nil }
				r.w.mu.Unlock()
			}
			l.advance(tc.after)
			if got := r.leading(); got != tc.want {
				t.Errorf("leading = %v, want %v (Lease holder %q)", got, tc.want, holderOf(l.api.get()))
			}
			if tc.want && holderOf(l.api.get()) != "me" {
				t.Errorf("Lease holder = %q, want me", holderOf(l.api.get()))
			}
			if tc.writes != nil {
				if got := r.w.log(); fmt.Sprint(got) != fmt.Sprint(tc.writes) {
					t.Errorf("writes = %v, want %v", got, tc.writes)
				}
			}
		})
	}
}

// TestLeaderRenew: a leader renews every renew period (2 writes/s by
// default, each conditional on its last write) and keeps one term.
func TestLeaderRenew(t *testing.T) {
	l := newElectionLab(t)
	r := l.start("me")
	l.advance(10 * time.Second)
	if !r.leading() || r.terms.Load() != 1 {
		t.Fatalf("leading = %v after %d terms, want one term that lasts", r.leading(), r.terms.Load())
	}
	w := r.w.log()
	if len(w) != 21 { // create + 20 renewals
		t.Errorf("%d writes in 10 s, want 21 (one create, then one every 500 ms): %v", len(w), w)
	}
	for i := 1; i < len(w); i++ {
		if want := "update@" + strconv.Itoa(1000+i); w[i] != want {
			t.Errorf("write %d = %s, want %s (conditional on the previous write)", i, w[i], want)
		}
	}
	if err := r.e.Check(); err != nil {
		t.Errorf("liveness: %v", err)
	}
}

// TestLeaderRenewDeadline: a leader whose renewals fail (or hang) stops
// leading at the renew deadline, before a standby could take over, and the
// standby then does.
func TestLeaderRenewDeadline(t *testing.T) {
	for _, mode := range []string{"fail", "hang"} {
		t.Run(mode, func(t *testing.T) {
			l := newElectionLab(t)
			a := l.start("a")
			b := l.start("b")
			l.advance(time.Second)
			if !a.leading() || b.leading() {
				t.Fatalf("a leading %v, b leading %v; want a", a.leading(), b.leading())
			}
			last := a.e.status().renewedAt
			if mode == "fail" {
				a.w.set(errUnreachable, nil)
			} else {
				a.w.set(nil, make(chan struct{}))
			}
			var stoppedAt, tookAt time.Time
			for range 60 {
				l.advance(50 * time.Millisecond)
				if stoppedAt.IsZero() && !a.leading() {
					stoppedAt = l.clock.Now()
				}
				if tookAt.IsZero() && b.leading() {
					tookAt = l.clock.Now()
				}
			}
			if stoppedAt.IsZero() || stoppedAt.Sub(last) > DefaultRenewDeadline {
				t.Errorf("a stopped leading %s after its last renewal, want ≤ %s", stoppedAt.Sub(last), DefaultRenewDeadline)
			}
			if tookAt.IsZero() || !tookAt.After(stoppedAt) {
				t.Errorf("b took over at %s, a stopped at %s", tookAt.Sub(epoch), stoppedAt.Sub(epoch))
			}
			if tookAt.Sub(last) < DefaultLeaseDuration {
				t.Errorf("b took over %s after a's last renewal, before the lease duration", tookAt.Sub(last))
			}
			if a.working.Load() != 0 {
				t.Error("a's worker still runs")
			}
		})
	}
}

// TestLeaderRelease: a replica that stops gracefully releases the Lease and
// the standby takes over through the watch, with no time passing.
func TestLeaderRelease(t *testing.T) {
	l := newElectionLab(t)
	a := l.start("a")
	b := l.start("b")
	l.advance(300 * time.Millisecond)
	l.stop(a, true)
	if !b.leading() {
		t.Fatalf("b does not lead right after a released; Lease holder %q", holderOf(l.api.get()))
	}
	if a.working.Load() != 0 {
		t.Error("a's worker still runs after Run returned")
	}
}

// TestLeaderRestart: a replica that restarts and finds the Lease naming it
// claims it with a conditional write; if someone wrote first, it does not
// lead.
func TestLeaderRestart(t *testing.T) {
	t.Run("claims conditionally", func(t *testing.T) {
		l := newElectionLab(t)
		l.api.put("me", epoch)
		r := l.start("me")
		if !r.leading() {
			t.Fatal("does not lead")
		}
		if got := r.w.log(); fmt.Sprint(got) != "[update@1001]" {
			t.Errorf("writes = %v, want one update conditional on 1001", got)
		}
	})
	t.Run("loses to a write in between", func(t *testing.T) {
		l := newElectionLab(t)
		l.api.put("me", epoch)
		w := &replicaWriter{api: l.api, before: func() error { l.api.put("other", epoch); return nil }}
		r2 := l.startWith("me", w)
		if r2.leading() {
			t.Fatal("leads although another replica wrote the Lease first")
		}
		l.advance(1900 * time.Millisecond)
		if r2.leading() || len(w.log()) != 1 {
			t.Errorf("leading %v, writes %v; want one write and no lead while other's Lease is fresh", r2.leading(), w.log())
		}
	})
}

// TestLeaderConflictWaitsForTheWatch: after a conflict the cache still
// shows the version the write was based on (the watch lags); the replica
// does not write again until the watch shows another version or a lease
// duration has passed.
func TestLeaderConflictWaitsForTheWatch(t *testing.T) {
	l := newElectionLab(t)
	l.api.put("other", epoch)
	w := &replicaWriter{api: l.api}
	r := l.startWith("me", w)
	w.mu.Lock()
	w.before = func() error {
		return apierrors.NewConflict(leasesGVR.GroupResource(), LeaseName, errors.New("modified"))
	}
	w.mu.Unlock()
	l.advance(2 * time.Second) // expired on our clock: claims, and is refused
	if r.leading() {
		t.Fatal("leads although its claim was refused")
	}
	l.advance(1950 * time.Millisecond)
	if got := w.log(); len(got) != 1 {
		t.Errorf("writes = %v, want the one claim that conflicted and no retry while the cache is unchanged", got)
	}
	l.advance(100 * time.Millisecond)
	if !r.leading() {
		t.Errorf("does not lead a lease duration after the conflict, with the Lease still unchanged; writes %v", w.log())
	}
}

// TestLeaderConflictOnRenew: a renewal that conflicts makes the leader look
// at the cache: another holder there ends the term; a change that still
// names it (a person's edit) does not.
func TestLeaderConflictOnRenew(t *testing.T) {
	for _, tc := range []struct {
		holder string
		want   bool
	}{{"other", false}, {"me", true}} {
		t.Run(tc.holder, func(t *testing.T) {
			l := newElectionLab(t)
			r := l.start("me")
			l.api.put(tc.holder, epoch)
			l.advance(600 * time.Millisecond)
			if r.leading() != tc.want {
				t.Errorf("leading = %v after the Lease was rewritten naming %s, want %v", r.leading(), tc.holder, tc.want)
			}
		})
	}
}

// TestLeaderRandom runs two replicas on one fake API server through random
// crashes, graceful stops, restarts, outages, hanging writes and lost write
// answers, and checks after every
// 50 ms step that no two workers run at once, and at the end that one
// replica leads once things are calm.
func TestLeaderRandom(t *testing.T) {
	seeds := uint64(4)
	if n, err := strconv.ParseUint(os.Getenv("LEADER_SIM_SEEDS"), 10, 64); err == nil {
		seeds = n // e.g. LEADER_SIM_SEEDS=100 go test ./internal/controller -run TestLeaderRandom
	}
	for seed := range seeds {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(seed, 1))
			l := newElectionLab(t)
			ids := []string{"a", "b"}
			reps := map[string]*replica{"a": l.start("a"), "b": l.start("b")}
			for range 25 {
				id := ids[rnd.IntN(2)]
				r := reps[id]
				switch rnd.IntN(7) {
				case 0:
					if !r.stopped {
						l.stop(r, rnd.IntN(2) == 0)
					} else {
						reps[id] = l.start(id)
					}
				case 1:
					r.w.set(errUnreachable, nil)
				case 2:
					r.w.set(nil, make(chan struct{}))
				case 3:
					r.w.set(nil, nil)
					r.w.mu.Lock()
					r.w.lose = true
					r.w.mu.Unlock()
				default:
					r.w.set(nil, nil)
				}
				l.advance(time.Duration(rnd.IntN(3000)) * time.Millisecond)
			}
			for _, id := range ids {
				if reps[id].stopped {
					reps[id] = l.start(id)
				}
				reps[id].w.set(nil, nil)
			}
			l.advance(5 * time.Second)
			n := 0
			for _, id := range ids {
				if reps[id].leading() {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d replicas lead after 5 calm seconds, want 1", n)
			}
		})
	}
}

// startWith starts a replica with a given writer.
func (l *electionLab) startWith(id string, w *replicaWriter) *replica {
	r := &replica{id: id, w: w, done: make(chan struct{})}
	r.e = newLeaderElector(LeaderElection{Enabled: true, Identity: id}, ns, l.api.client, w, l.clock,
		zaptest.NewLogger(l.t).Named(id), func(ctx context.Context) {
			r.terms.Add(1)
			r.working.Add(1)
			<-ctx.Done()
			r.working.Add(-1)
		})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.e.run(ctx)
	}()
	l.reps = append(l.reps, r)
	l.t.Cleanup(func() { l.stop(r, false) })
	l.settle()
	return r
}

// TestLeaderElectionValidate: the timing rule lives in Validate.
func TestLeaderElectionValidate(t *testing.T) {
	for _, tc := range []struct {
		le LeaderElection
		ok bool
	}{
		{LeaderElection{}, true},
		{LeaderElection{Enabled: true, Identity: "a"}, true},
		{LeaderElection{Enabled: true}, false},
		{LeaderElection{Enabled: true, Identity: "a", LeaseDuration: time.Second}, false},
		{LeaderElection{Enabled: true, Identity: "a", RenewDeadline: 2 * time.Second}, false},
		{LeaderElection{Enabled: true, Identity: "a", RenewPeriod: 1500 * time.Millisecond}, false},
		{LeaderElection{Enabled: true, Identity: "a", LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RenewPeriod: 2 * time.Second}, true},
	} {
		if err := tc.le.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v, want ok %v", tc.le, err, tc.ok)
		}
	}
}

// TestLeaderCheck: liveness fails only when the replica believes it leads
// and has not renewed for longer than twice the lease duration (what
// client-go's HealthzAdaptor with a lease-duration timeout reported).
func TestLeaderCheck(t *testing.T) {
	clk := testingclock.NewFakeClock(epoch)
	e := newLeaderElector(LeaderElection{Enabled: true, Identity: "me"}, ns, kfake.NewClientset(), nil, clk,
		zaptest.NewLogger(t), func(context.Context) {})
	for _, tc := range []struct {
		leading bool
		since   time.Duration
		ok      bool
	}{{true, 3900 * time.Millisecond, true}, {true, 4100 * time.Millisecond, false}, {false, time.Hour, true}} {
		e.pub = electorStatus{leading: tc.leading, renewedAt: epoch.Add(-tc.since)}
		if err := e.Check(); (err == nil) != tc.ok {
			t.Errorf("leading %v, renewed %s ago: Check() = %v, want ok %v", tc.leading, tc.since, err, tc.ok)
		}
	}
}
