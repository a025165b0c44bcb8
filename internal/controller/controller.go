package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/leaselb/leaselb/api/v1alpha1"
	"github.com/leaselb/leaselb/internal/client/clientset/versioned"
	"github.com/leaselb/leaselb/internal/client/informers/externalversions"
	lblisters "github.com/leaselb/leaselb/internal/client/listers/api/v1alpha1"
	"github.com/leaselb/leaselb/internal/daemon"
)

// LeaseName is the name of the Lease the controller replicas elect their
// leader on, in the leaselb namespace.
const LeaseName = "leaselb-controller"

// Component is the Event source and field manager name of the controller.
const Component = "leaselb-controller"

// ErrNotSynced is returned by Run when the informer caches cannot sync
// before the context ends, usually because the API server is unreachable
// or the CRDs are not installed.
var ErrNotSynced = errors.New("controller: informer caches did not sync")

// LeaderElection configures the election between controller replicas.
type LeaderElection struct {
	// Enabled runs the election; when false this replica always leads,
	// which is right for a single replica and for tests.
	Enabled bool
	// LeaseName defaults to LeaseName; the Lease lives in Config.Namespace.
	LeaseName string
	// Identity names this replica in the Lease (the pod name).
	Identity string
	// LeaseDuration is how long a standby waits, on its own clock, after
	// it saw the Lease change before it may claim it. RenewDeadline is how
	// long the leader goes without a successful renewal before it stops
	// leading; it must be shorter, so the leader stops before anyone else
	// can start. RenewPeriod is how often the leader renews. Zero means
	// DefaultLeaseDuration, DefaultRenewDeadline and DefaultRenewPeriod;
	// Validate checks them.
	LeaseDuration, RenewDeadline, RenewPeriod time.Duration
}

// Config is what a Controller needs. Kube, Leaselb and Log are required.
type Config struct {
	Kube    kubernetes.Interface
	Leaselb versioned.Interface
	// Namespace holds the pools, the advertisements and the Lease.
	Namespace string
	// RequireClass makes Services without spec.loadBalancerClass someone
	// else's; by default they are ours.
	RequireClass   bool
	LeaderElection LeaderElection
	Log            *zap.Logger
	// Registerer receives the metrics; nil means none are exported.
	Registerer prometheus.Registerer
	// Health, if set, gets the readiness check (caches synced) and the
	// liveness check of the leader election.
	Health *daemon.Health
	// Recorder records Events on Services; nil means a broadcaster that
	// writes them through Kube.
	Recorder record.EventRecorder
	// Clock stamps status conditions; nil means the real clock.
	Clock clock.PassiveClock
}

// A Controller assigns IPs to LoadBalancer Services. Create it with New and
// start it with Run; it runs its worker only while it leads.
type Controller struct {
	cfg      Config
	log      *zap.Logger
	metrics  *metrics
	recorder record.EventRecorder
	clock    clock.PassiveClock

	kubeInformers informers.SharedInformerFactory
	lbInformers   externalversions.SharedInformerFactory
	services      corelisters.ServiceLister
	namespaces    corelisters.NamespaceLister
	pools         lblisters.IPAddressPoolNamespaceLister
	ads           lblisters.L2AdvertisementNamespaceLister
	synced        []cache.InformerSynced
	ready         atomic.Bool

	// queue is the work queue of the current leadership term, nil while
	// this replica does not lead; event handlers drop what arrives then,
	// because a new term starts by looking at everything.
	mu    sync.Mutex
	queue workqueue.TypedRateLimitingInterface[item]
	// termMu is held for the whole of a leadership term.
	termMu sync.Mutex
	// elector runs the leader election; nil when it is disabled.
	elector *leaderElector
}

// New builds a Controller and registers its informers' event handlers.
// Nothing talks to the API server until Run.
func New(cfg Config) (*Controller, error) {
	if cfg.Kube == nil || cfg.Leaselb == nil || cfg.Log == nil {
		return nil, errors.New("controller: Config needs Kube, Leaselb and Log")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = daemon.DefaultNamespace
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if err := cfg.LeaderElection.Validate(); err != nil {
		return nil, err
	}
	cfg.LeaderElection.setDefaults()
	c := &Controller{
		cfg:      cfg,
		log:      cfg.Log,
		metrics:  newMetrics(cfg.Registerer),
		recorder: cfg.Recorder,
		clock:    cfg.Clock,
	}

	// Managed fields are big and never read here.
	strip := stripManagedFields
	c.kubeInformers = informers.NewSharedInformerFactoryWithOptions(cfg.Kube, 0, informers.WithTransform(strip))
	c.lbInformers = externalversions.NewSharedInformerFactoryWithOptions(cfg.Leaselb, 0,
		externalversions.WithNamespace(cfg.Namespace), externalversions.WithTransform(strip))

	svcInf := c.kubeInformers.Core().V1().Services()
	nsInf := c.kubeInformers.Core().V1().Namespaces()
	poolInf := c.lbInformers.Leaselb().V1alpha1().IPAddressPools()
	adInf := c.lbInformers.Leaselb().V1alpha1().L2Advertisements()
	c.services = svcInf.Lister()
	c.namespaces = nsInf.Lister()
	c.pools = poolInf.Lister().IPAddressPools(cfg.Namespace)
	c.ads = adInf.Lister().L2Advertisements(cfg.Namespace)

	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{svcInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.onService,
			UpdateFunc: func(_, obj any) { c.onService(obj) },
			DeleteFunc: c.onService,
		}},
		{nsInf.Informer(), cache.ResourceEventHandlerFuncs{
			UpdateFunc: c.onNamespaceUpdate,
		}},
		{poolInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.enqueue(item{kind: kindPools}) },
			UpdateFunc: c.onPoolUpdate,
			DeleteFunc: func(any) { c.enqueue(item{kind: kindPools}) },
		}},
		{adInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.enqueue(item{kind: kindStatus}) },
			UpdateFunc: c.onAdvertisementUpdate,
			DeleteFunc: func(any) { c.enqueue(item{kind: kindStatus}) },
		}},
	}
	for _, h := range handlers {
		reg, err := h.inf.AddEventHandler(h.h)
		if err != nil {
			return nil, fmt.Errorf("controller: add event handler: %w", err)
		}
		c.synced = append(c.synced, reg.HasSynced)
	}
	if le := cfg.LeaderElection; le.Enabled {
		c.elector = newLeaderElector(le, cfg.Namespace, cfg.Kube, cfg.Kube.CoordinationV1().Leases(cfg.Namespace),
			clock.RealClock{}, c.log, c.lead)
		if cfg.Health != nil {
			cfg.Health.AddLiveness("leader-election", c.elector.Check)
		}
	}
	if cfg.Health != nil {
		cfg.Health.AddReadiness("informers-synced", func() error {
			if !c.ready.Load() {
				return errors.New("informer caches not synced yet")
			}
			return nil
		})
	}
	return c, nil
}

// Run starts the informers, waits for their caches, then takes part in the
// leader election and runs the worker while it leads. It returns when ctx
// ends (after releasing the Lease) or when the caches cannot sync.
func (c *Controller) Run(ctx context.Context) error {
	if c.recorder == nil {
		b := record.NewBroadcaster(record.WithContext(ctx))
		defer b.Shutdown()
		b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.cfg.Kube.CoreV1().Events("")})
		c.recorder = b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: Component})
	}
	c.kubeInformers.Start(ctx.Done())
	c.lbInformers.Start(ctx.Done())
	defer c.kubeInformers.Shutdown()
	defer c.lbInformers.Shutdown()
	c.log.Info("waiting for informer caches", zap.String("namespace", c.cfg.Namespace))
	// client-go retries a failing list quietly; say why nothing happens.
	slow := time.AfterFunc(30*time.Second, func() {
		c.log.Warn("informer caches still not synced after 30s: is the API server reachable, are the leaselb CRDs installed, and may this ServiceAccount list Services, Namespaces, IPAddressPools and L2Advertisements?")
	})
	synced := cache.WaitForCacheSync(ctx.Done(), c.synced...)
	slow.Stop()
	if !synced {
		if ctx.Err() != nil {
			return nil
		}
		return ErrNotSynced
	}
	c.ready.Store(true)
	c.log.Info("informer caches synced")

	if !c.cfg.LeaderElection.Enabled {
		c.lead(ctx)
		return nil
	}
	return c.elect(ctx)
}

// elect campaigns for the Lease until ctx ends. Losing the Lease ends the
// term (the worker stops, its state is dropped) and the replica campaigns
// again; a new term rebuilds everything from the caches, so nothing
// carries over from a term in which another replica may have written.
// It returns after the last term's worker has stopped and the Lease is
// released.
func (c *Controller) elect(ctx context.Context) error {
	c.elector.run(ctx)
	return nil
}

// lead runs one leadership term: fresh allocator, pools, then every
// existing assignment, then the work queue, until ctx ends.
func (c *Controller) lead(ctx context.Context) {
	// Terms never overlap: the elector starts a term in a goroutine when
	// it wins and only cancels it when it loses, so the next term waits
	// here for the last.
	c.termMu.Lock()
	defer c.termMu.Unlock()
	if ctx.Err() != nil {
		return
	}
	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[item](),
		workqueue.TypedRateLimitingQueueConfig[item]{Name: "leaselb-controller"})
	t := newTerm(c, q)
	c.mu.Lock()
	c.queue = q
	c.mu.Unlock()
	c.metrics.leader.Set(1)
	defer func() {
		c.mu.Lock()
		c.queue = nil
		c.mu.Unlock()
		q.ShutDown()
		c.metrics.leader.Set(0)
		c.metrics.clearState()
	}()
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	t.start()
	for t.processNext(ctx) {
	}
}

// enqueue adds work for the current term, if this replica leads.
func (c *Controller) enqueue(it item) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.queue != nil {
		c.queue.Add(it)
	}
}

func (c *Controller) onService(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.enqueue(item{kind: kindService, name: key})
}

// onNamespaceUpdate requeues a namespace's Services when its labels change,
// because pools may select Services by namespace labels.
func (c *Controller) onNamespaceUpdate(oldObj, newObj any) {
	o, ok1 := oldObj.(*corev1.Namespace)
	n, ok2 := newObj.(*corev1.Namespace)
	if !ok1 || !ok2 || labels.Equals(o.Labels, n.Labels) {
		return
	}
	svcs, err := c.services.Services(n.Name).List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range svcs {
		c.enqueue(item{kind: kindService, name: s.Namespace + "/" + s.Name})
	}
}

// onPoolUpdate ignores the updates that our own status writes cause; only
// a spec change reloads the pools, and a label change can change which
// advertisements cover the pool.
func (c *Controller) onPoolUpdate(oldObj, newObj any) {
	o, ok1 := oldObj.(*v1alpha1.IPAddressPool)
	n, ok2 := newObj.(*v1alpha1.IPAddressPool)
	if !ok1 || !ok2 {
		c.enqueue(item{kind: kindPools})
		return
	}
	switch {
	case !equality.Semantic.DeepEqual(o.Spec, n.Spec):
		c.enqueue(item{kind: kindPools})
	case !labels.Equals(o.Labels, n.Labels), !equality.Semantic.DeepEqual(o.Status, n.Status):
		// A status someone else changed (or our write the cache has not
		// seen) is rewritten only if it differs from what we compute.
		c.enqueue(item{kind: kindStatus})
	}
}

func (c *Controller) onAdvertisementUpdate(oldObj, newObj any) {
	o, ok1 := oldObj.(*v1alpha1.L2Advertisement)
	n, ok2 := newObj.(*v1alpha1.L2Advertisement)
	if ok1 && ok2 && o.ResourceVersion == n.ResourceVersion {
		return
	}
	c.enqueue(item{kind: kindStatus})
}

// stripManagedFields drops metadata.managedFields from cached objects:
// they are big and never read here.
func stripManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil && m.GetManagedFields() != nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
