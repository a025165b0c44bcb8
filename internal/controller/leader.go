package controller

// The leader election between controller replicas.
//
// A leaderElector owns the one Lease the replicas elect their leader on
// (LeaseName in the leaselb namespace): it watches it, claims it, renews it
// while this replica leads, and releases it on shutdown. It follows the rules
// of the per-VIP election (docs/election.md), not client-go's
// tools/leaderelection: that elector polls the Lease (a GET per retry period
// on every replica), so a standby notices a dead leader only at its next poll
// after the writer's renewTime looks old. Here a standby watches the Lease
// through an informer restricted to that one object, judges expiry on its own
// clock from when it saw the resourceVersion change, and writes only to
// claim; every write is conditional on the resourceVersion last seen.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// The default timings of the controller's leader election. With them the
// leader writes the Lease twice a second and standbys write and read
// nothing (they watch); a standby takes over about two seconds after the
// last renewal it saw from a leader that died.
const (
	DefaultLeaseDuration = 2 * time.Second
	DefaultRenewDeadline = 1500 * time.Millisecond
	DefaultRenewPeriod   = 500 * time.Millisecond
)

// setDefaults fills the zero fields of le with the defaults.
func (le *LeaderElection) setDefaults() {
	if le.LeaseName == "" {
		le.LeaseName = LeaseName
	}
	if le.LeaseDuration == 0 {
		le.LeaseDuration = DefaultLeaseDuration
	}
	if le.RenewDeadline == 0 {
		le.RenewDeadline = DefaultRenewDeadline
	}
	if le.RenewPeriod == 0 {
		le.RenewPeriod = DefaultRenewPeriod
	}
}

// Validate reports settings the election cannot work with. It accepts
// zero timings (they mean the defaults) and checks nothing when the
// election is disabled.
func (le LeaderElection) Validate() error {
	if !le.Enabled {
		return nil
	}
	if le.Identity == "" {
		return errors.New("controller: leader election needs an identity; set --leader-elect-identity or POD_NAME")
	}
	le.setDefaults()
	// The leader must give up before a standby can take over: a standby
	// claims a lease duration after it saw the last renewal, which was
	// sent earlier still, and the leader stops a renew deadline after
	// sending it.
	if !(le.LeaseDuration > le.RenewDeadline && le.RenewDeadline > le.RenewPeriod && le.RenewPeriod > 0) {
		return fmt.Errorf("controller: leader election timings must satisfy --leader-elect-lease-duration (%s) > --leader-elect-renew-deadline (%s) > --leader-elect-retry-period (%s) > 0",
			le.LeaseDuration, le.RenewDeadline, le.RenewPeriod)
	}
	return nil
}

// leaseWriter is all the elector asks of the API server besides its watch.
// coordinationv1client.LeaseInterface satisfies it.
type leaseWriter interface {
	Create(ctx context.Context, l *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error)
	Update(ctx context.Context, l *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error)
}

// A leaderElector campaigns for the controller Lease and runs a term
// (onLead, in its own goroutine) while it holds it. One goroutine, run,
// owns all the state below "loop state"; the watch and the writes only
// send it events.
type leaderElector struct {
	le        LeaderElection
	namespace string
	kube      kubernetes.Interface
	writer    leaseWriter
	clock     clock.Clock
	log       *zap.Logger
	onLead    func(ctx context.Context)
	// releaseOnStop is true except in tests that play a crash.
	releaseOnStop bool

	events chan any

	// loop state
	synced bool
	// seen is the last version the watch delivered (nil: absent) and
	// seenAt when this replica saw its resourceVersion change.
	seen   *coordinationv1.Lease
	seenAt time.Time
	// written is the answer to this replica's last successful write, sent
	// at writtenAt; renewals are conditional on it.
	written   *coordinationv1.Lease
	writtenAt time.Time
	leading   bool
	term      context.CancelFunc
	termDone  chan struct{}
	inflight  bool
	// nextWrite is the earliest time of the next write (renew period,
	// retry after an error).
	nextWrite time.Time
	// After a conflict the elector writes no more until the watch shows a
	// version other than stale (or a lease duration has passed).
	stale      *string
	staleUntil time.Time
	// leader is the holder last logged.
	leader string

	mu  sync.Mutex
	pub electorStatus
}

// electorStatus is what the loop publishes for the health check and tests.
type electorStatus struct {
	leading   bool
	renewedAt time.Time
	// settled: the loop waits with no write in flight and nothing due
	// before wake; seenRV is the version it last saw ("" absent).
	settled bool
	synced  bool
	wake    time.Time
	seenRV  string
}

type leaseEvent struct{ lease *coordinationv1.Lease }
type syncedEvent struct{}
type writeResult struct {
	op     string // "claim", "renew"
	sentAt time.Time
	base   string // resourceVersion the write was conditional on; "" for Create
	lease  *coordinationv1.Lease
	err    error
}

func newLeaderElector(le LeaderElection, namespace string, kube kubernetes.Interface, writer leaseWriter,
	clk clock.Clock, log *zap.Logger, onLead func(context.Context)) *leaderElector {
	le.setDefaults()
	return &leaderElector{
		le: le, namespace: namespace, kube: kube, writer: writer, clock: clk, onLead: onLead,
		log:           log.With(zap.String("lease", namespace+"/"+le.LeaseName), zap.String("identity", le.Identity)),
		releaseOnStop: true,
		events:        make(chan any, 16),
	}
}

// Check fails when this replica leads but has not renewed the Lease for
// longer than the lease duration plus the lease duration again: its loop is
// wedged (it would have stopped leading after the renew deadline), and a
// restart is the cure. It is the liveness check client-go's HealthzAdaptor
// gave with the same timeout.
func (e *leaderElector) Check() error {
	e.mu.Lock()
	s := e.pub
	e.mu.Unlock()
	limit := 2 * e.le.LeaseDuration
	if s.leading && e.clock.Since(s.renewedAt) > limit {
		return fmt.Errorf("controller: leads but has not renewed the Lease %s/%s for %s (more than %s)",
			e.namespace, e.le.LeaseName, e.clock.Since(s.renewedAt).Round(time.Millisecond), limit)
	}
	return nil
}

func (e *leaderElector) status() electorStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pub
}

// run campaigns until ctx ends, then stops the term, waits for it, and
// releases the Lease if this replica still holds it.
func (e *leaderElector) run(ctx context.Context) {
	inf := informers.NewSharedInformerFactoryWithOptions(e.kube, 0, informers.WithNamespace(e.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", e.le.LeaseName).String()
		}))
	leases := inf.Coordination().V1().Leases().Informer()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	send := func(ev any) {
		select {
		case e.events <- ev:
		case <-watchCtx.Done():
		}
	}
	onLease := func(obj any) {
		if l, ok := obj.(*coordinationv1.Lease); ok && l.Name == e.le.LeaseName {
			send(leaseEvent{l})
		}
	}
	reg, err := leases.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onLease,
		UpdateFunc: func(_, obj any) { onLease(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if l, ok := obj.(*coordinationv1.Lease); ok && l.Name == e.le.LeaseName {
				send(leaseEvent{nil})
			}
		},
	})
	if err != nil {
		e.log.Error("cannot watch the controller Lease", zap.Error(err))
		return
	}
	inf.Start(watchCtx.Done())
	defer inf.Shutdown()
	go func() {
		// client-go retries a failing list quietly; say why nothing happens.
		slow := time.AfterFunc(30*time.Second, func() {
			e.log.Warn("cannot watch the controller Lease after 30s: may this ServiceAccount get, list and watch the Lease " + e.le.LeaseName + "?")
		})
		defer slow.Stop()
		// The handler has seen the initial list once the registration
		// has synced, so this event follows the lease's first one.
		if cache.WaitForCacheSync(watchCtx.Done(), reg.HasSynced) {
			send(syncedEvent{})
		}
	}()

	for {
		wake := e.act(ctx)
		var timer clock.Timer
		var tc <-chan time.Time
		if !wake.IsZero() {
			timer = e.clock.NewTimer(wake.Sub(e.clock.Now()))
			tc = timer.C()
		}
		e.publish(true, wake)
		select {
		case <-ctx.Done():
		case ev := <-e.events:
			e.handle(ev)
		case <-tc:
		}
		e.mu.Lock()
		e.pub.settled = false
		e.mu.Unlock()
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			e.shutdown()
			return
		}
	}
}

func (e *leaderElector) publish(settled bool, wake time.Time) {
	rv := ""
	if e.seen != nil {
		rv = e.seen.ResourceVersion
	}
	e.mu.Lock()
	e.pub = electorStatus{leading: e.leading, renewedAt: e.writtenAt, settled: settled && !e.inflight, synced: e.synced, wake: wake, seenRV: rv}
	e.mu.Unlock()
}

// handle folds one event into the loop state.
func (e *leaderElector) handle(ev any) {
	switch ev := ev.(type) {
	case syncedEvent:
		e.synced = true
	case leaseEvent:
		if rv(ev.lease) != rv(e.seen) || e.seenAt.IsZero() {
			e.seenAt = e.clock.Now()
		}
		e.seen = ev.lease
		if h := holder(ev.lease); h != e.leader && h != "" {
			e.leader = h
			if h != e.le.Identity {
				e.log.Info("another replica leads", zap.String("leader", h))
			}
		}
	case writeResult:
		e.inflight = false
		e.done(ev)
	}
}

// done takes the answer to a write.
func (e *leaderElector) done(r writeResult) {
	now := e.clock.Now()
	switch {
	case r.err == nil:
		e.written, e.writtenAt = r.lease, r.sentAt
		e.stale = nil
		if !e.leading && now.Sub(r.sentAt) < e.le.RenewDeadline {
			e.startLeading()
		}
	case apierrors.IsConflict(r.err), apierrors.IsAlreadyExists(r.err), apierrors.IsNotFound(r.err):
		// Someone wrote first: re-read from the cache, never retry blindly.
		base := r.base
		e.stale, e.staleUntil = &base, now.Add(e.le.LeaseDuration)
		e.log.Debug("the controller Lease changed under this write; waiting for the watch", zap.String("op", r.op), zap.Error(r.err))
	default:
		lvl := e.log.Debug
		if e.leading {
			lvl = e.log.Warn
		}
		lvl("cannot write the controller Lease", zap.String("op", r.op), zap.Error(r.err))
	}
}

// act takes the decision the state calls for now and returns when to look
// again (zero: only on an event).
func (e *leaderElector) act(ctx context.Context) time.Time {
	now := e.clock.Now()
	if e.leading {
		deadline := e.writtenAt.Add(e.le.RenewDeadline)
		if !now.Before(deadline) {
			e.stopLeading(ctx, "no renewal succeeded for the renew deadline")
			return e.act(ctx)
		}
		if e.inflight {
			return deadline
		}
		if e.stale != nil && *e.stale == rv(e.seen) {
			return deadline // the watch has not caught up yet
		}
		if e.stale != nil {
			e.stale = nil
			if holder(e.seen) != e.le.Identity {
				e.stopLeading(ctx, "another replica wrote the Lease")
				return e.act(ctx)
			}
			// Our own write whose answer was lost, or a person's edit:
			// renew on that version, still conditionally.
			e.written = e.seen
			e.nextWrite = now
		}
		if now.Before(e.nextWrite) {
			return earliest(e.nextWrite, deadline)
		}
		e.write(ctx, "renew", e.written, now)
		return deadline
	}
	if e.inflight || !e.synced {
		return time.Time{}
	}
	if e.stale != nil {
		if *e.stale == rv(e.seen) && now.Before(e.staleUntil) {
			return e.staleUntil
		}
		e.stale = nil
	}
	if now.Before(e.nextWrite) {
		return e.nextWrite
	}
	switch h := holder(e.seen); {
	case e.seen == nil, h == "", h == e.le.Identity:
		// Absent, released, or naming this replica after a restart or a
		// lost term: claim like anyone else, conditionally.
	default:
		if expiry := e.seenAt.Add(e.le.LeaseDuration); now.Before(expiry) {
			return expiry
		}
	}
	e.write(ctx, "claim", e.seen, now)
	return time.Time{}
}

// write sends a claim or renewal based on cur (nil: Create) in its own
// goroutine; the answer comes back as a writeResult.
func (e *leaderElector) write(ctx context.Context, op string, cur *coordinationv1.Lease, now time.Time) {
	l := e.leaseFor(cur, e.le.Identity, now)
	e.inflight = true
	e.nextWrite = now.Add(e.le.RenewPeriod)
	base := rv(cur)
	go func() {
		// A write that hangs must not hold the next one back for ever;
		// the renew deadline is enforced by the loop, not by this.
		wctx, cancel := context.WithTimeout(ctx, e.le.RenewDeadline)
		defer cancel()
		var got *coordinationv1.Lease
		var err error
		if cur == nil {
			got, err = e.writer.Create(wctx, l, metav1.CreateOptions{})
		} else {
			got, err = e.writer.Update(wctx, l, metav1.UpdateOptions{})
		}
		// The loop, or its shutdown, always takes the answer.
		e.events <- writeResult{op: op, sentAt: now, base: base, lease: got, err: err}
	}()
}

// leaseFor is cur (or a new Lease) rewritten to name holder ("" releases).
func (e *leaderElector) leaseFor(cur *coordinationv1.Lease, holder string, now time.Time) *coordinationv1.Lease {
	var l *coordinationv1.Lease
	if cur == nil {
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: e.le.LeaseName, Namespace: e.namespace}}
	} else {
		l = cur.DeepCopy()
	}
	t := metav1.NewMicroTime(now)
	if prev := ptrValue(l.Spec.HolderIdentity); prev != holder {
		if holder != "" {
			l.Spec.AcquireTime = &t
		}
		if prev != "" && holder != "" {
			n := ptrValue(l.Spec.LeaseTransitions) + 1
			l.Spec.LeaseTransitions = &n
		}
	}
	secs := int32((e.le.LeaseDuration + time.Second - 1) / time.Second)
	l.Spec.HolderIdentity = &holder
	l.Spec.LeaseDurationSeconds = &secs
	l.Spec.RenewTime = &t
	return l
}

func (e *leaderElector) startLeading() {
	e.log.Info("became leader; starting the allocator")
	e.leading = true
	e.leader = e.le.Identity
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	e.term, e.termDone = cancel, done
	go func() {
		defer close(done)
		e.onLead(ctx)
	}()
}

func (e *leaderElector) stopLeading(ctx context.Context, why string) {
	e.leading = false
	e.term()
	if ctx.Err() == nil {
		e.log.Info("lost the controller Lease; stopping the worker and campaigning again", zap.String("reason", why))
	}
}

// shutdown ends the term, waits for it and for a write in flight, and
// releases the Lease (conditionally) so a standby takes over at once.
func (e *leaderElector) shutdown() {
	if e.leading {
		e.leading = false
		e.term()
	}
	if e.termDone != nil {
		<-e.termDone
	}
	for e.inflight {
		if r, ok := (<-e.events).(writeResult); ok {
			e.inflight = false
			if r.err == nil {
				e.written = r.lease // too late to lead on; release it below
			}
		}
	}
	e.publish(false, time.Time{})
	if !e.releaseOnStop || e.written == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.le.RenewDeadline)
	defer cancel()
	l := e.leaseFor(e.written, "", e.clock.Now())
	if _, err := e.writer.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		// A conflict means someone else holds it now: nothing to release.
		e.log.Info("did not release the controller Lease", zap.Error(err))
		return
	}
	e.log.Info("released the controller Lease")
}

func rv(l *coordinationv1.Lease) string {
	if l == nil {
		return ""
	}
	return l.ResourceVersion
}

func holder(l *coordinationv1.Lease) string {
	if l == nil {
		return ""
	}
	return ptrValue(l.Spec.HolderIdentity)
}

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
