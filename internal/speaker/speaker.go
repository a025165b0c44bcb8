package speaker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/leaselb/leaselb/api/v1alpha1"
	"github.com/leaselb/leaselb/election"
	"github.com/leaselb/leaselb/internal/client/clientset/versioned"
	"github.com/leaselb/leaselb/internal/daemon"
	"github.com/leaselb/leaselb/l2"
)

// Component is the Event source and the field manager of the speaker.
const Component = "leaselb-speaker"

// ErrConfig is wrapped by New's errors about a Config that cannot work.
var ErrConfig = errors.New("speaker: invalid config")

// Timings of the health checks. They are generous on purpose: a failing
// /healthz restarts the speaker, which drops every VIP it announces.
const (
	// syncGrace is how long the informers may take to sync before /healthz
	// fails.
	syncGrace = time.Minute
	// stuckAfter is how long a cluster change may wait for the loop before
	// /healthz fails.
	stuckAfter = 30 * time.Second
	// watchStuckAfter is the least time the Lease watch may go without
	// delivering one of our successful renewals before /healthz fails.
	watchStuckAfter = time.Minute
	// watchFailingAfter is how long an informer's watch may fail before
	// /readyz fails.
	watchFailingAfter = 30 * time.Second
)

// Config is what a Speaker needs. Kube, Leaselb, Namespace and Node are
// required.
type Config struct {
	// Kube reads Services, EndpointSlices and Nodes and writes Leases.
	Kube kubernetes.Interface
	// Events writes the Events; a separate client keeps a burst of Events
	// from queueing Lease writes behind it in the rate limiter. Nil: Kube.
	Events kubernetes.Interface
	// Leaselb reads IPAddressPools and L2Advertisements.
	Leaselb versioned.Interface
	// Namespace holds the pools, advertisements and Leases.
	Namespace string
	// Node is this node's name (the Node object's name).
	Node string
	// RequireClass: serve only Services with spec.loadBalancerClass
	// leaselb.io/l2.
	RequireClass bool
	// IgnoreExcludeLabel lets nodes labelled
	// node.kubernetes.io/exclude-from-external-load-balancers announce; see
	// Inputs.IgnoreExcludeLabel.
	IgnoreExcludeLabel bool
	// Election is passed to the election unchanged: its zero fields take the
	// election's defaults and election.Timing.Validate checks it.
	Election election.Timing
	// Refresh is the period of gratuitous refreshes; 0 turns them off.
	Refresh time.Duration
	// WireCheck turns on the wire check (docs/election.md): a holder that
	// missed a node-lease renewal is probed on the shared link, and one
	// silent there is replaced after election.Timing.WireLapse instead of
	// the full node-lease duration.
	WireCheck bool
	// Clock drives every timing decision; nil means the real clock.
	Clock clock.WithTicker
	// Logger receives state changes at info and the rest at debug.
	Logger *zap.Logger
	// Registerer receives the speaker's, the election's and the
	// announcer's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Health receives the liveness and readiness checks; nil adds none.
	Health *daemon.Health
	// Freshness tells which caches may be out of date. Wire its
	// WrapTransport into the REST config of Kube and Leaselb so an accepted
	// list or watch marks a resource fresh at once, and so the speaker hears
	// when the API server answers again after failing (it then re-lists the
	// group inputs, relist.go); nil makes one that learns only from failures
	// and new data, and never re-lists.
	Freshness *Freshness

	// Announcer replaces the l2 Announcer: the scale benchmark runs many
	// speakers on one machine without raw sockets. Nil: l2.NewAnnouncer.
	Announcer Announcer

	// announcer replaces the l2 Announcer in tests.
	announcer Announcer
}

// An Announcer is the speaker's wire side, what it needs of l2.Announcer.
type Announcer interface {
	announcer
	Close() error
}

// A Speaker runs the speaker's informers, election, announcer and loop.
type Speaker struct {
	cfg   Config
	log   *zap.Logger
	clock clock.WithTicker

	// leaseInf holds the election's Lease informer, which lives as long as
	// the speaker; leases is that informer.
	leaseInf informers.SharedInformerFactory
	leases   cache.SharedIndexInformer
	// in is the generation of the group inputs' informers the loop reads
	// (relist.go); it changes only on the loop's goroutine, and Freshness
	// reads it from the transport's.
	in     atomic.Pointer[inputs]
	relist relister
	// informerCtx ends every informer when Run returns.
	informerCtx context.Context

	el        *election.Elector
	an        Announcer
	loop      *loop
	wireCheck *wireCheck // nil: the wire check is off

	broadcaster record.EventBroadcaster

	started time.Time
	mu      sync.Mutex
	synced  bool
	fresh   *Freshness
	// electionBad is when the election last reported itself unhealthy.
	electionBad time.Time
	// cacheSince is the election's CacheCurrentSince (replaced in tests).
	cacheSince func() time.Time
}

// The resources the speaker caches. Freshness keys list and watch failures
// by the last element of the request's URL path, which the API server's
// REST convention makes the resource's plural; the informers are named by
// these same GroupVersionResources and obtained through the factories'
// ForResource, so a name that is not the URL plural fails New instead of
// silently never matching a failure.
var (
	resServices       = corev1.SchemeGroupVersion.WithResource("services")
	resEndpointSlices = discoveryv1.SchemeGroupVersion.WithResource("endpointslices")
	resNodes          = corev1.SchemeGroupVersion.WithResource("nodes")
	resPools          = v1alpha1.SchemeGroupVersion.WithResource("ipaddresspools")
	resAdvertisements = v1alpha1.SchemeGroupVersion.WithResource("l2advertisements")
	resLeases         = coordinationv1.SchemeGroupVersion.WithResource("leases")
)

// groupInputs are the informers whose caches decide which groups exist and
// whether this node is a candidate. The Lease cache is the election's,
// which judges its own freshness.
var groupInputs = []string{resServices.Resource, resEndpointSlices.Resource, resNodes.Resource, resPools.Resource, resAdvertisements.Resource}

// New checks cfg, creates the informers, the election and the announcer,
// and returns a Speaker ready to Run.
func New(cfg Config) (*Speaker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Speaker{cfg: cfg, log: cfg.Logger.With(zap.String("node", cfg.Node)), clock: cfg.Clock,
		started: cfg.Clock.Now(), fresh: cfg.Freshness}
	if s.fresh == nil {
		s.fresh = NewFreshness()
	}
	if err := s.makeInformers(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	an := cfg.announcer
	if an == nil {
		an = cfg.Announcer
	}
	if an == nil {
		a, err := l2.NewAnnouncer(l2.Config{Logger: cfg.Logger, Registerer: cfg.Registerer, Refresh: cfg.Refresh, Clock: cfg.Clock})
		if err != nil {
			return nil, fmt.Errorf("speaker: starting the ARP/NDP announcer: %w", err)
		}
		an = a
	}
	s.an = an
	if err := s.wire(m); err != nil {
		_ = an.Close()
		return nil, err
	}
	if cfg.Health != nil {
		cfg.Health.AddLiveness("speaker", s.Alive)
		cfg.Health.AddReadiness("speaker", s.Ready)
	}
	return s, nil
}

// withDefaults checks cfg and fills in its optional fields. The election's
// timings are left to the election.
func (cfg Config) withDefaults() (Config, error) {
	switch {
	case cfg.Kube == nil:
		return cfg, fmt.Errorf("%w: Kube client is nil", ErrConfig)
	case cfg.Leaselb == nil:
		return cfg, fmt.Errorf("%w: Leaselb client is nil", ErrConfig)
	case cfg.Namespace == "":
		return cfg, fmt.Errorf("%w: namespace is empty; set --namespace (leaselb-system)", ErrConfig)
	case cfg.Node == "":
		return cfg, fmt.Errorf("%w: node name is empty; set --node-name or $NODE_NAME (spec.nodeName through the downward API)", ErrConfig)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Events == nil {
		cfg.Events = cfg.Kube
	}
	return cfg, nil
}

// makeInformers creates the Lease informer and the first generation of the
// group inputs' informers, and hooks them to Freshness.
func (s *Speaker) makeInformers() error {
	cfg := s.cfg
	// Resync 0: a Lease resync would look like a re-list to the election.
	s.leaseInf = informers.NewSharedInformerFactoryWithOptions(cfg.Kube, 0,
		informers.WithNamespace(cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = election.RoleLabel }))
	leases, err := informerOf(s.leaseInf.ForResource(resLeases))
	if err != nil {
		return fmt.Errorf("speaker: %s informer: %w", resLeases.Resource, err)
	}
	if err := hookInformer(leases, resLeases.Resource, func() bool { return true }, s.watchFailed); err != nil {
		return err
	}
	s.leases = leases
	in, err := s.newInputs(nil)
	if err != nil {
		return err
	}
	s.in.Store(in)
	s.fresh.now = s.clock.Now
	s.fresh.version = func(name string) string {
		if inf := s.informer(name); inf != nil {
			return inf.LastSyncResourceVersion()
		}
		return ""
	}
	return nil
}

// hookInformer strips managedFields from what inf caches and reports its
// list and watch failures while live says it is in use.
func hookInformer(inf cache.SharedIndexInformer, name string, live func() bool, failed func(string, error)) error {
	if err := inf.SetTransform(trimForCache); err != nil {
		return fmt.Errorf("speaker: %s informer: %w", name, err)
	}
	if err := inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		if live() {
			failed(name, err)
		}
	}); err != nil {
		return fmt.Errorf("speaker: %s informer: %w", name, err)
	}
	return nil
}

// informer returns the informer of a resource (by plural) that the speaker
// reads now.
func (s *Speaker) informer(name string) cache.SharedIndexInformer {
	if name == resLeases.Resource {
		return s.leases
	}
	if in := s.in.Load(); in != nil {
		return in.informers[name]
	}
	return nil
}

// allResources are the resources the speaker caches, by plural.
var allResources = append(slices.Clone(groupInputs), resLeases.Resource)

// wire creates the election and the loop on the informers and announcer;
// the group inputs' handlers (newInputs) wake the loop.
func (s *Speaker) wire(m *metrics) error {
	cfg := s.cfg
	annots := nodeAnnotations(s.an)
	el, err := election.New(election.Config{
		Client:          cfg.Kube,
		Leases:          s.leases,
		Namespace:       cfg.Namespace,
		Node:            cfg.Node,
		Clock:           cfg.Clock,
		Timing:          cfg.Election,
		NodeAnnotations: annots,
		WireCheck:       cfg.WireCheck,
		Logger:          cfg.Logger,
		Registerer:      cfg.Registerer,
	})
	if err != nil {
		return err
	}
	s.el = el
	s.cacheSince = el.CacheCurrentSince
	if pr, ok := s.an.(wireProber); ok && cfg.WireCheck {
		s.wireCheck = &wireCheck{el: el, pr: pr, log: s.log, every: l2.DefaultProbeInterval}
	}

	s.broadcaster = record.NewBroadcaster()
	recorder := s.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: Component, Host: cfg.Node})
	s.loop = newLoop(loopConfig{
		node:              cfg.Node,
		requireClass:      cfg.RequireClass,
		ignoreExclude:     cfg.IgnoreExcludeLabel,
		nodeLeaseDuration: el.Timing().NodeLeaseDuration,
		clock:             cfg.Clock,
		log:               s.log,
		recorder:          recorder,
		m:                 m,
		stale:             s.staleResources,
	}, el, s.an, s.in.Load().src)
	s.loop.published = annots
	s.fresh.changed = s.loop.changed
	s.relist = relister{log: s.log, every: relistRetry, clock: s.clock, m: m,
		start: s.startInputs, back: make(chan struct{}, 1), synced: make(chan *inputs, 1)}
	s.fresh.back = s.relist.apiBack
	return nil
}

// informerOf unwraps a factory's ForResource answer.
func informerOf[G interface {
	Informer() cache.SharedIndexInformer
}](g G, err error) (cache.SharedIndexInformer, error) {
	if err != nil {
		return nil, err
	}
	return g.Informer(), nil
}

// lastApplied is the annotation `kubectl apply` keeps a whole copy of the
// object in.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// trimForCache drops what the speaker never reads before objects are cached:
// managedFields and kubectl's last-applied copy everywhere, a Service's
// ports, selector and cluster IPs, a Node's status beyond its conditions
// (the image list alone is kilobytes per node), and an EndpointSlice's
// ports and each endpoint's target, hints and topology. On a cluster of
// thousands of mostly ClusterIP Services that is most of the cache. The
// speaker reads only its own copies; what it reads of them is in
// candidacy.go, groups.go and filter.go.
func trimForCache(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
		if ann := a.GetAnnotations(); ann[lastApplied] != "" {
			delete(ann, lastApplied)
		}
	}
	switch o := obj.(type) {
	case *corev1.Service:
		o.Spec.Ports, o.Spec.Selector, o.Spec.ClusterIPs, o.Spec.ClusterIP = nil, nil, nil, ""
		o.Spec.SessionAffinityConfig = nil
	case *corev1.Node:
		o.Status = corev1.NodeStatus{Conditions: o.Status.Conditions}
	case *discoveryv1.EndpointSlice:
		o.Ports = nil
		for i := range o.Endpoints {
			ep := &o.Endpoints[i]
			ep.TargetRef, ep.Hints, ep.Hostname, ep.Zone, ep.DeprecatedTopology = nil, nil, nil, nil, nil
		}
	}
	return obj, nil
}

// staleResources lists the group inputs whose cache may be out of date:
// those Freshness knows to be, and those a re-list under way will replace
// (its accepted list marks them fresh before the loop reads it).
func (s *Speaker) staleResources() []string {
	stale := s.fresh.Stale(groupInputs...)
	if p := s.relist.pending; p != nil {
		stale = append(stale, p.relisting...)
		slices.Sort(stale)
		stale = slices.Compact(stale)
	}
	return stale
}

// watchFailed records an informer's list/watch failure.
func (s *Speaker) watchFailed(name string, err error) {
	s.fresh.markStale(name, err)
	s.log.Warn("watch failing; retrying with backoff", zap.String("resource", name), zap.Error(err))
}

// Run starts the informers, the election and the loop, and runs until ctx
// is done. Then it stops answering ARP/NDP, and only then lets the election
// release every lease (about a second at most), and returns.
func (s *Speaker) Run(ctx context.Context) error {
	s.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.cfg.Events.CoreV1().Events("")})
	defer s.broadcaster.Shutdown()
	informerCtx, stopInformers := context.WithCancel(context.Background())
	defer stopInformers()
	s.informerCtx = informerCtx
	s.leaseInf.Start(informerCtx.Done())
	s.in.Load().run(informerCtx)

	// The election gets its own context, ended only once the loop has
	// stopped answering: a successor claims the moment it sees a release,
	// and must never find us still on the wire.
	elCtx, stopElection := context.WithCancel(context.Background())
	defer stopElection()
	elDone := make(chan error, 1)
	go func() { elDone <- s.el.Run(elCtx) }()
	wireDone := make(chan struct{})
	if s.wireCheck != nil {
		ticker := s.clock.NewTicker(s.wireCheck.every)
		go func() {
			defer close(wireDone)
			defer ticker.Stop()
			s.wireCheck.run(elCtx, ticker.C())
		}()
	} else {
		close(wireDone)
	}

	err := s.run(ctx)
	stopElection()
	<-wireDone
	closeErr := s.an.Close()
	elErr := <-elDone
	s.log.Info("speaker stopped")
	return errors.Join(err, closeErr, elErr)
}

// run is the loop: it waits for the caches, then reacts to cluster changes,
// the election's and the announcer's news until ctx is done.
func (s *Speaker) run(ctx context.Context) error {
	l := s.loop
	var syncs []cache.InformerSynced
	for _, name := range allResources {
		syncs = append(syncs, s.informer(name).HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), syncs...) {
		l.stop()
		return nil
	}
	s.mu.Lock()
	s.synced = true
	s.mu.Unlock()
	s.log.Info("caches synced; taking part in the elections", zap.String("namespace", s.cfg.Namespace),
		zap.Bool("requireClass", s.cfg.RequireClass))

	// Interfaces come and go (hot-plug); their MACs are checked now and
	// then, which costs no API call unless they changed.
	macTicker := s.clock.NewTicker(30 * time.Second)
	defer macTicker.Stop()
	claims := s.an.Claims()
	// wake fires when a link's hold-down ends, or, while a group is held
	// back on a link that came back, to look at the Lease cache again.
	wake := s.clock.NewTimer(time.Hour)
	defer wake.Stop()
	dirty := true
	for {
		if dirty {
			l.recompute()
			if s.wireCheck != nil {
				s.wireCheck.publish(l)
			}
			dirty = false
		}
		l.reconcile()
		l.publishNodeAnnotations()
		if !wake.Stop() {
			select {
			case <-wake.C():
			default:
			}
		}
		switch {
		case l.gated:
			wake.Reset(revalidateEvery)
		case !l.wire.next.IsZero():
			wake.Reset(max(l.wire.next.Sub(s.clock.Now()), 0))
		}
		select {
		case <-ctx.Done():
			l.stop()
			return nil
		case <-l.kick:
			dirty = true
		case <-s.el.Changed():
		case c, ok := <-claims:
			if !ok {
				claims = nil
				continue
			}
			l.claim(c)
		case <-macTicker.C():
		case <-s.an.LinksChanged():
			dirty = true
		case <-wake.C():
			dirty = !l.wire.next.IsZero() && !s.clock.Now().Before(l.wire.next)
		case <-s.relist.back:
			s.relist.onBack(s.fresh.Stale(groupInputs...))
		case g := <-s.relist.synced:
			if s.relist.onSynced(g) {
				s.swapInputs(g)
				dirty = true
			}
		}
	}
}

// Alive is the liveness check: it fails only for what a restart cures — a
// loop or a watch that is stuck while the API server answers, or caches
// that never synced. An unreachable API server does not fail it: a
// restarted speaker would stop announcing, and nobody else can claim
// meanwhile.
func (s *Speaker) Alive() error {
	now := s.clock.Now()
	s.mu.Lock()
	synced := s.synced
	s.mu.Unlock()
	if !synced {
		if now.Sub(s.started) > syncGrace {
			return fmt.Errorf("informers not synced after %v: %s; check the speaker's RBAC and the API server", syncGrace, strings.Join(s.unsynced(), ", "))
		}
		return nil
	}
	if k := s.loop.kickedAt.Load(); k != 0 {
		if late := now.Sub(time.Unix(0, k)); late > stuckAfter {
			return fmt.Errorf("the speaker loop has not handled a cluster change for %v: it is stuck", late.Round(time.Second))
		}
	}
	err := s.electionHealth(now)
	if err != nil && !errors.Is(err, election.ErrAPIUnreachable) && now.Sub(s.started) > syncGrace {
		return err // the election loop is stuck (or never synced): a restart cures that
	}
	if err == nil {
		// Our renewals succeed; the Lease watch must deliver them. Counted
		// from the later of the last echo and the last time the election
		// was unhealthy: after an API outage the reflector may take its
		// backoff (up to 30 s) to watch again, which is no reason to
		// restart.
		s.mu.Lock()
		base := s.started
		if s.electionBad.After(base) {
			base = s.electionBad
		}
		if echo := s.cacheSince(); echo.After(base) {
			base = echo
		}
		s.mu.Unlock()
		t := s.el.Timing()
		limit := max(2*t.IdleRenew+2*t.NodeLeaseDuration, watchStuckAfter)
		if late := now.Sub(base); late > limit {
			return fmt.Errorf("the Lease watch has not delivered this node's lease %s for %v although its renewals succeed: the watch is stuck",
				election.NodeLeaseName(s.cfg.Node), late.Round(time.Second))
		}
	}
	return nil
}

// electionHealth is the election's Healthy, remembering when it last failed.
func (s *Speaker) electionHealth(now time.Time) error {
	err := s.el.Healthy()
	if err != nil {
		s.mu.Lock()
		s.electionBad = now
		s.mu.Unlock()
	}
	return err
}

// Ready is the readiness check: caches synced, the election healthy (the
// node lease renewed) and no watch failing.
func (s *Speaker) Ready() error {
	s.mu.Lock()
	synced := s.synced
	s.mu.Unlock()
	now := s.clock.Now()
	var failing []string
	names, failures := s.fresh.failures(allResources...)
	for i, f := range failures {
		if now.Sub(f.since) > watchFailingAfter {
			failing = append(failing, fmt.Sprintf("%s (since %v: %v)", names[i], now.Sub(f.since).Round(time.Second), f.err))
		}
	}
	if !synced {
		return fmt.Errorf("informers not synced yet: %s", strings.Join(s.unsynced(), ", "))
	}
	if err := s.electionHealth(now); err != nil {
		return err
	}
	if len(failing) > 0 {
		return fmt.Errorf("watches failing: %s", strings.Join(failing, "; "))
	}
	return nil
}

func (s *Speaker) unsynced() []string {
	var out []string
	for _, name := range allResources {
		if !s.informer(name).HasSynced() {
			out = append(out, name)
		}
	}
	return out
}
