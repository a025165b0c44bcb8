package status

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/leaselb/leaselb/api/v1alpha1"
	lbinformers "github.com/leaselb/leaselb/internal/client/informers/externalversions"
	"github.com/leaselb/leaselb/internal/doctor"
	"github.com/leaselb/leaselb/internal/speaker"
)

// Clients are the API clients status reads through: doctor's, since both
// read the same snapshot.
type Clients = doctor.Clients

// ErrUnreachable wraps Start's error when the API server does not answer.
var ErrUnreachable = errors.New("status: cannot reach the API server")

// A Source keeps a doctor.Snapshot of what status shows current through
// informers (list once, then watch): Nodes, LoadBalancer Services,
// EndpointSlices, the speakers' Events, and in leaselb's namespace the
// Leases, pools and advertisements. It never polls.
type Source struct {
	c         Clients
	namespace string
	offset    time.Duration
	changed   chan struct{}
	speakerDS *appsv1.DaemonSet
	crds      map[string]bool
	errs      map[string]string

	factories []interface {
		Start(<-chan struct{})
		Shutdown()
	}
	informers map[string]cache.SharedIndexInformer // by doctor.Source* name
	stop      context.CancelFunc
}

// NewSource prepares the informers; Start runs them.
func NewSource(c Clients, namespace string) *Source {
	return &Source{c: c, namespace: namespace, changed: make(chan struct{}, 1), informers: map[string]cache.SharedIndexInformer{},
		crds: map[string]bool{}, errs: map[string]string{}}
}

// Changed receives a value (coalesced) after any watched object changes.
func (s *Source) Changed() <-chan struct{} { return s.changed }

func (s *Source) poke() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Start checks that the API server answers, reads the speaker DaemonSet's
// flags once, starts the informers and waits until they have listed, or
// until ctx ends: a source that could not be listed by then (forbidden,
// say) is reported in Snapshot.Errors instead of blocking the answer.
func (s *Source) Start(ctx context.Context, syncTimeout time.Duration) error {
	kube := s.c.Kube
	if _, err := kube.Discovery().ServerVersion(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	if s.c.ServerTime != nil {
		if t, err := s.c.ServerTime(ctx); err == nil && !t.IsZero() {
			s.offset = time.Until(t)
		}
	}
	rl, err := kube.Discovery().ServerResourcesForGroupVersion(v1alpha1.SchemeGroupVersion.String())
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		s.errs[doctor.SourceResources] = err.Error()
	default:
		for _, r := range rl.APIResources {
			s.crds[r.Name] = true
		}
	}
	ds, err := kube.AppsV1().DaemonSets(s.namespace).Get(ctx, doctor.SpeakerDaemonSet, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		s.errs[doctor.SourceSpeaker] = err.Error()
	default:
		s.speakerDS = ds
	}

	all := informers.NewSharedInformerFactory(kube, 0)
	inNS := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(s.namespace))
	// Only the speakers' Events (Announcing, Released): every Event of a
	// busy cluster would be most of what status reads.
	events := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("source", speaker.Component).String()
	}))
	s.factories = append(s.factories, all, inNS, events)
	s.informers[doctor.SourceNodes] = all.Core().V1().Nodes().Informer()
	s.informers[doctor.SourceServices] = all.Core().V1().Services().Informer()
	s.informers[doctor.SourceEndpointSlices] = all.Discovery().V1().EndpointSlices().Informer()
	s.informers[doctor.SourceEvents] = events.Core().V1().Events().Informer()
	s.informers[doctor.SourceLeases] = inNS.Coordination().V1().Leases().Informer()
	if s.c.Leaselb != nil && s.crds["ipaddresspools"] && s.crds["l2advertisements"] {
		lb := lbinformers.NewSharedInformerFactoryWithOptions(s.c.Leaselb, 0, lbinformers.WithNamespace(s.namespace))
		s.factories = append(s.factories, lb)
		s.informers[doctor.SourcePools] = lb.Leaselb().V1alpha1().IPAddressPools().Informer()
		s.informers[doctor.SourceAdvertisements] = lb.Leaselb().V1alpha1().L2Advertisements().Informer()
	}
	watchErrs := map[string]chan string{}
	for src, inf := range s.informers {
		ch := make(chan string, 1)
		watchErrs[src] = ch
		_ = inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
			select {
			case <-ch:
			default:
			}
			ch <- err.Error()
		})
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { s.poke() },
			UpdateFunc: func(any, any) { s.poke() },
			DeleteFunc: func(any) { s.poke() },
		}); err != nil {
			return err
		}
	}
	run, stop := context.WithCancel(ctx)
	s.stop = stop
	for _, f := range s.factories {
		f.Start(run.Done())
	}
	syncCtx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	for src, inf := range s.informers {
		if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
			msg := "not listed within " + syncTimeout.String()
			select {
			case m := <-watchErrs[src]:
				msg = m
			default:
			}
			s.errs[src] = msg
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// Stop ends the informers and waits for them.
func (s *Source) Stop() {
	if s.stop != nil {
		s.stop()
	}
	for _, f := range s.factories {
		f.Shutdown()
	}
}

func listOf[T any](inf cache.SharedIndexInformer) []T {
	if inf == nil {
		return nil
	}
	var out []T
	for _, o := range inf.GetStore().List() {
		if p, ok := o.(*T); ok {
			out = append(out, *p)
		}
	}
	return out
}

// Snapshot returns the current view as a doctor.Snapshot, so the rows are
// computed the way doctor computes its checks.
func (s *Source) Snapshot() *doctor.Snapshot {
	snap := &doctor.Snapshot{Namespace: s.namespace, Now: time.Now().Add(s.offset), Resources: s.crds, Errors: map[string]string{}, Speaker: s.speakerDS}
	for k, v := range s.errs {
		snap.Errors[k] = v
	}
	snap.Nodes = listOf[corev1.Node](s.informers[doctor.SourceNodes])
	local := map[string]bool{}
	for _, svc := range listOf[corev1.Service](s.informers[doctor.SourceServices]) {
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		snap.Services = append(snap.Services, svc)
		if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
			local[svc.Namespace+"/"+svc.Name] = true
		}
	}
	for _, sl := range listOf[discoveryv1.EndpointSlice](s.informers[doctor.SourceEndpointSlices]) {
		if local[sl.Namespace+"/"+sl.Labels[discoveryv1.LabelServiceName]] {
			snap.EndpointSlices = append(snap.EndpointSlices, sl)
		}
	}
	for _, e := range listOf[corev1.Event](s.informers[doctor.SourceEvents]) {
		// Fake clients ignore field selectors; the reasons status reads.
		if e.Source.Component == speaker.Component && (e.Reason == speaker.EventAnnouncing || e.Reason == speaker.EventReleased) {
			snap.Events = append(snap.Events, e)
		}
	}
	snap.Leases = listOf[coordinationv1.Lease](s.informers[doctor.SourceLeases])
	snap.Pools = listOf[v1alpha1.IPAddressPool](s.informers[doctor.SourcePools])
	snap.Advertisements = listOf[v1alpha1.L2Advertisement](s.informers[doctor.SourceAdvertisements])
	slices.SortFunc(snap.Services, func(a, b corev1.Service) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return snap
}

// RunOptions are what `leaselb status` was asked for.
type RunOptions struct {
	Namespace string
	Options
	Format Format
	// Watch re-renders whenever the output would change, until ctx ends.
	Watch bool
	// SyncTimeout bounds the wait for the first list of every source.
	SyncTimeout time.Duration
}

// settle coalesces a burst of changes (a handover writes a lease and two
// Events) into one rendering.
const settle = 100 * time.Millisecond

// Run prints the Report once, or with Watch again after every change that
// alters it, until ctx ends.
func Run(ctx context.Context, c Clients, o RunOptions, w io.Writer) error {
	src := NewSource(c, o.Namespace)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := src.Start(ctx, o.SyncTimeout)
	defer src.Stop()
	if err != nil {
		return err
	}
	last := ""
	render := func() error {
		var b bytes.Buffer
		if err := Write(&b, Build(src.Snapshot(), o.Options), o.Format); err != nil {
			return err
		}
		out := b.String()
		if out == last {
			return nil
		}
		sep := ""
		if last != "" {
			switch o.Format {
			case YAML:
				sep = "---\n"
			case Table, Wide:
				sep = "\n"
			}
		}
		last = out
		_, err := io.WriteString(w, sep+out)
		return err
	}
	select { // the first rendering shows every change so far
	case <-src.Changed():
	default:
	}
	if err := render(); err != nil || !o.Watch {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-src.Changed():
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(settle):
		}
		if err := render(); err != nil {
			return err
		}
	}
}
