package speaker

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	lbinformers "github.com/leaselb/leaselb/internal/client/informers/externalversions"
)

// After an API server outage, client-go's reflectors retry their lists and
// watches with an exponential backoff that reaches 30–60 s: a Service
// deleted during the outage would stay in the cache, and its VIP answered,
// that long after the API server is back. So when the API server answers
// again after failing (Freshness sees any request get through, usually the
// node-lease renewal within 500 ms), the group inputs whose watches failed
// are listed anew by a new generation of informers, which starts with no
// backoff. The loop keeps reading the old generation until the new one has
// synced, then swaps it in whole and stops the old one: it never decides
// from a half-listed cache, and until the swap the re-listed resources
// count as stale (it claims nothing new on their word).

// relistRetry is how long a re-list may take before the API server's next
// return starts it anew: a re-list caught by a second outage would
// otherwise back off like the informers it replaces.
const relistRetry = 5 * time.Second

// inputs is one generation of the informers of the group inputs
// (groupInputs), with the listers the loop reads.
type inputs struct {
	kube      informers.SharedInformerFactory
	lb        lbinformers.SharedInformerFactory
	informers map[string]cache.SharedIndexInformer
	src       sources
	// relisting is what this generation was started to re-list (nil for
	// the first), started when.
	relisting []string
	started   time.Time
	stop      context.CancelFunc
	// done is closed when the generation stops (nil before run).
	done    <-chan struct{}
	retired atomic.Bool
}

// newInputs creates a generation of the group inputs' informers, with
// handlers that wake the loop while it is the one the loop reads.
func (s *Speaker) newInputs(relisting []string) (*inputs, error) {
	cfg := s.cfg
	// Resync 0: the loop recomputes from the caches on every change.
	g := &inputs{
		kube:      informers.NewSharedInformerFactory(cfg.Kube, 0),
		lb:        lbinformers.NewSharedInformerFactoryWithOptions(cfg.Leaselb, 0, lbinformers.WithNamespace(cfg.Namespace)),
		informers: map[string]cache.SharedIndexInformer{},
		relisting: relisting,
		started:   s.clock.Now(),
		stop:      func() {},
	}
	kube := func(r schema.GroupVersionResource) (cache.SharedIndexInformer, error) {
		return informerOf(g.kube.ForResource(r))
	}
	lb := func(r schema.GroupVersionResource) (cache.SharedIndexInformer, error) {
		return informerOf(g.lb.ForResource(r))
	}
	for _, w := range []struct {
		res schema.GroupVersionResource
		of  func(schema.GroupVersionResource) (cache.SharedIndexInformer, error)
	}{
		{resServices, kube}, {resEndpointSlices, kube}, {resNodes, kube},
		{resPools, lb}, {resAdvertisements, lb},
	} {
		inf, err := w.of(w.res)
		if err != nil {
			return nil, fmt.Errorf("speaker: %s informer: %w", w.res.Resource, err)
		}
		if err := hookInformer(inf, w.res.Resource, func() bool { return !g.retired.Load() }, s.watchFailed); err != nil {
			return nil, err
		}
		g.informers[w.res.Resource] = inf
	}
	svcInf := g.kube.Core().V1().Services()
	poolInf := g.lb.Leaselb().V1alpha1().IPAddressPools()
	adInf := g.lb.Leaselb().V1alpha1().L2Advertisements()
	g.src = sources{
		services:  svcInf.Lister(),
		slices:    g.kube.Discovery().V1().EndpointSlices().Lister(),
		nodes:     g.kube.Core().V1().Nodes().Lister(),
		pools:     poolInf.Lister().IPAddressPools(cfg.Namespace),
		ads:       adInf.Lister().L2Advertisements(cfg.Namespace),
		namespace: cfg.Namespace,
	}

	// A generation being listed wakes nothing: the swap recomputes.
	wakeIf := func(matters bool) {
		if matters && s.in.Load() == g {
			s.loop.changed()
		}
	}
	wake := func(any) { wakeIf(true) }
	services := g.src.services
	handlers := map[string]cache.ResourceEventHandlerFuncs{
		resServices.Resource: {
			AddFunc:    func(o any) { wakeIf(serviceMatters(o)) },
			UpdateFunc: func(o, n any) { wakeIf(serviceMatters(o, n)) },
			DeleteFunc: func(o any) { wakeIf(serviceMatters(o)) },
		},
		resEndpointSlices.Resource: {
			AddFunc:    func(o any) { wakeIf(sliceMatters(services, o)) },
			UpdateFunc: func(o, n any) { wakeIf(sliceMatters(services, o, n)) },
			DeleteFunc: func(o any) { wakeIf(sliceMatters(services, o)) },
		},
		resNodes.Resource: {
			AddFunc:    wake,
			UpdateFunc: func(o, n any) { wakeIf(nodeUpdateMatters(o, n)) },
			DeleteFunc: wake,
		},
		resPools.Resource:          {AddFunc: wake, UpdateFunc: func(_, _ any) { wakeIf(true) }, DeleteFunc: wake},
		resAdvertisements.Resource: {AddFunc: wake, UpdateFunc: func(_, _ any) { wakeIf(true) }, DeleteFunc: wake},
	}
	for name, h := range handlers {
		if _, err := g.informers[name].AddEventHandler(h); err != nil {
			return nil, fmt.Errorf("speaker: %s informer: %w", name, err)
		}
	}
	return g, nil
}

// run starts the generation's informers under parent.
func (g *inputs) run(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	g.stop, g.done = cancel, ctx.Done()
	g.kube.Start(ctx.Done())
	g.lb.Start(ctx.Done())
}

// hasSynced reports whether every informer of the generation has synced.
func (g *inputs) hasSynced() bool {
	for _, inf := range g.informers {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

// retire stops the generation; its failures no longer count.
func (g *inputs) retire() {
	g.retired.Store(true)
	if g.stop != nil {
		g.stop()
	}
	go func() {
		if g.kube != nil {
			g.kube.Shutdown()
		}
		if g.lb != nil {
			g.lb.Shutdown()
		}
	}()
}

// A relister decides when the group inputs are listed anew: one rule, in
// onBack. Its state is the speaker loop's, touched only on its goroutine;
// apiBack may be called from any.
type relister struct {
	log   *zap.Logger
	clock clock.PassiveClock
	m     *metrics
	// every is how long a re-list may take before the API server's next
	// return starts it anew (relistRetry).
	every time.Duration
	// start creates and starts a generation re-listing the named
	// resources, which reports on synced once its caches have synced; nil
	// if it could not be created.
	start func(relisting []string) *inputs
	// back wakes the loop when the API server answers after failing.
	back chan struct{}
	// synced receives generations whose caches have synced.
	synced chan *inputs
	// pending is the generation being listed, if any.
	pending *inputs
}

// apiBack is Freshness's news that the API server answers again.
func (r *relister) apiBack() {
	select {
	case r.back <- struct{}{}:
	default:
	}
}

// onBack is the rule: the API server answers again after failing; if some
// group inputs' caches may be out of date (stale: their watches failed and
// no list or watch got through since), a new generation lists them all at
// once. A re-list already under way is left alone unless it has taken
// longer than every (its own informers may be backing off by now).
func (r *relister) onBack(stale []string) {
	if len(stale) == 0 {
		return
	}
	now := r.clock.Now()
	if p := r.pending; p != nil {
		if now.Sub(p.started) < r.every {
			return
		}
		r.log.Info("re-list of the group inputs not done yet; starting it anew", zap.Duration("after", now.Sub(p.started)))
		p.retire()
		r.pending = nil
		stale = append(stale, p.relisting...)
		slices.Sort(stale)
		stale = slices.Compact(stale)
	}
	r.log.Info("API server answers again: re-listing the inputs that define groups instead of waiting for their watches' backoff",
		zap.Strings("stale", stale))
	r.pending = r.start(stale)
	if r.pending != nil && r.m != nil {
		r.m.relists.Inc()
	}
}

// onSynced takes a generation whose caches synced; it reports whether the
// loop should now read it. One that a later re-list replaced is not.
func (r *relister) onSynced(g *inputs) bool {
	if g == nil || g != r.pending {
		return false
	}
	r.pending = nil
	r.log.Info("group inputs re-listed; reading the new caches", zap.Strings("stale", g.relisting),
		zap.Duration("took", r.clock.Since(g.started)))
	return true
}

// startInputs is the relister's start: a new generation under the
// informers' context, reported on r.synced once synced.
func (s *Speaker) startInputs(relisting []string) *inputs {
	g, err := s.newInputs(relisting)
	if err != nil {
		s.log.Error("cannot re-list the group inputs; waiting for their watches", zap.Error(err))
		return nil
	}
	g.run(s.informerCtx)
	go func() {
		if !cache.WaitForCacheSync(g.done, g.hasSynced) {
			return
		}
		select {
		case s.relist.synced <- g:
		case <-g.done:
		}
	}()
	return g
}

// swapInputs makes the loop read g from now on and stops the generation it
// read before.
func (s *Speaker) swapInputs(g *inputs) {
	old := s.in.Swap(g)
	s.loop.src = g.src
	s.fresh.freshSince(g.started, g.relisting...)
	if old != nil && old != g {
		old.retire()
	}
}
