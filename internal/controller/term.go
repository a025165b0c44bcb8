package controller

import (
	"context"
	"net/netip"
	"sort"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/workqueue"

	"github.com/leaselb/leaselb/allocator"
	"github.com/leaselb/leaselb/api/v1alpha1"
)

// kind says what a work item is about.
type kind int

const (
	// kindService reconciles one Service (name is "namespace/name").
	kindService kind = iota
	// kindPools reloads the pool set into the allocator.
	kindPools
	// kindStatus rewrites pool and advertisement status and the metrics.
	// Many changes collapse into one item while it waits in the queue.
	kindStatus
)

func (k kind) String() string {
	switch k {
	case kindService:
		return "service"
	case kindPools:
		return "pools"
	default:
		return "status"
	}
}

// item is one unit of work on the queue.
type item struct {
	kind kind
	name string
}

// A term is the state of one leadership term. Only the worker goroutine
// touches it, which is what lets it own the allocator.
type term struct {
	c     *Controller
	log   *zap.Logger
	queue workqueue.TypedRateLimitingInterface[item]
	alloc *allocator.Allocator

	// effective is the version of each pool the allocator holds: the
	// current spec when it is valid, else the last valid one seen this
	// term, so a bad edit orphans nobody. effectiveSpec is the spec it was
	// parsed from.
	effective     map[string]*allocator.Pool
	effectiveSpec map[string]v1alpha1.IPAddressPoolSpec
	// problems holds why a pool's current spec is rejected.
	problems map[string]poolProblem
	// rejected holds the parsed versions of pools rejected for overlap:
	// a Service whose status IP lies in one is kept, not moved.
	rejected map[string]*allocator.Pool
	// unparsed names pools whose spec does not parse and that have no
	// effective version; while any exists, an IP in no known pool may be
	// one of theirs, so it is kept rather than moved.
	unparsed []string

	// failures is the last AllocationFailed message per Service, so a
	// retry that fails the same way stays quiet.
	failures map[string]string
	// moved says why a Service's IP must change (its pool was edited or
	// deleted, or its status IPs could not be kept), for the IPChanged
	// Event.
	moved map[string]string
	// warned remembers the DeprecatedAnnotation Events sent, per Service
	// and annotation.
	warned map[string]bool
	// poolsSeen are the pools whose metrics series exist.
	poolsSeen map[string]bool
}

func newTerm(c *Controller, q workqueue.TypedRateLimitingInterface[item]) *term {
	return &term{
		c:             c,
		log:           c.log,
		queue:         q,
		alloc:         allocator.New(),
		effective:     map[string]*allocator.Pool{},
		effectiveSpec: map[string]v1alpha1.IPAddressPoolSpec{},
		problems:      map[string]poolProblem{},
		rejected:      map[string]*allocator.Pool{},
		failures:      map[string]string{},
		moved:         map[string]string{},
		warned:        map[string]bool{},
		poolsSeen:     map[string]bool{},
	}
}

// start rebuilds the allocator from the caches before any new allocation:
// pools first, then every IP already written in a Service status. Only
// then are Services queued, so a restart gives every Service back the IP
// it had.
func (t *term) start() {
	t.syncPools(false)
	svcs, err := t.c.services.List(labels.Everything())
	if err != nil {
		t.log.Error("listing Services from the cache", zap.Error(err))
	}
	var ours []*corev1.Service
	for _, s := range svcs {
		if t.ours(s) {
			ours = append(ours, s)
		}
	}
	// Oldest first, so that when two Services claim one IP (an edit made
	// while no controller ran) the older one keeps it.
	sort.Slice(ours, func(i, j int) bool {
		a, b := ours[i], ours[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return key(a) < key(b)
	})
	restored := 0
	for _, s := range ours {
		ips, ok := statusIPs(s)
		if len(ips) == 0 {
			continue
		}
		if !ok {
			t.moved[key(s)] = "its status held an address that is not an IP"
			continue
		}
		req := t.request(s)
		if _, err := t.alloc.Assign(req.Request, ips); err != nil {
			// reconcileService decides: keep it (pool rejected) or move it.
			t.log.Info("cannot keep a Service's IPs", zap.String("service", key(s)),
				zap.Stringers("ip", ips), zap.Error(err))
			continue
		}
		restored++
	}
	t.log.Info("restored assignments from Service status", zap.Int("services", restored), zap.Int("pools", len(t.effective)))
	// Ours oldest first, so new IPs go out in creation order; then the
	// rest, whose stale status may need clearing.
	for _, s := range ours {
		t.queue.Add(item{kind: kindService, name: key(s)})
	}
	for _, s := range svcs {
		if !t.ours(s) {
			t.queue.Add(item{kind: kindService, name: key(s)})
		}
	}
	t.queue.Add(item{kind: kindStatus})
}

// processNext handles one item; false means the queue has shut down.
func (t *term) processNext(ctx context.Context) bool {
	it, quit := t.queue.Get()
	if quit {
		return false
	}
	defer t.queue.Done(it)
	if ctx.Err() != nil {
		return false // the term is over; the next one starts from scratch
	}
	start := t.c.clock.Now()
	var err error
	switch it.kind {
	case kindService:
		err = t.reconcileService(ctx, it.name)
	case kindPools:
		t.syncPools(true)
	case kindStatus:
		err = t.writeStatus(ctx)
	}
	t.c.metrics.duration.WithLabelValues(it.kind.String()).Observe(t.c.clock.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			return true
		}
		t.log.Info("retrying after an API error", zap.Stringer("kind", it.kind), zap.String("name", it.name), zap.Error(err))
		t.queue.AddRateLimited(it)
		return true
	}
	t.queue.Forget(it)
	return true
}

// retryPending queues the Services that failed to get an IP: something was
// just freed, which may be what they were waiting for.
func (t *term) retryPending() {
	for k := range t.failures {
		t.queue.Add(item{kind: kindService, name: k})
	}
}

// enqueueOurs queues every Service that is ours.
func (t *term) enqueueOurs() {
	svcs, _ := t.c.services.List(labels.Everything())
	for _, s := range svcs {
		if t.ours(s) {
			t.queue.Add(item{kind: kindService, name: key(s)})
		}
	}
}

// ipsString formats IPs for Events and messages.
func ipsString(ips []netip.Addr) string {
	s := ""
	for i, ip := range ips {
		if i > 0 {
			s += ", "
		}
		s += ip.String()
	}
	return s
}
