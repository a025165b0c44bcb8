package controller

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/leaselb/leaselb/api/v1alpha1"
	lbfake "github.com/leaselb/leaselb/internal/client/clientset/versioned/fake"
)

const ns = "leaselb-system"

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// event is one Event a test recorder saw.
type event struct {
	object, typ, reason, message string
}

// recorder is a record.EventRecorder that keeps every Event, so tests can
// count them exactly (the real broadcaster aggregates and drops).
type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) Event(obj runtime.Object, typ, reason, msg string) {
	s, _ := cache.MetaNamespaceKeyFunc(obj)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{s, typ, reason, msg})
}

func (r *recorder) Eventf(obj runtime.Object, typ, reason, format string, args ...any) {
	r.Event(obj, typ, reason, fmt.Sprintf(format, args...))
}

func (r *recorder) AnnotatedEventf(obj runtime.Object, _ map[string]string, typ, reason, format string, args ...any) {
	r.Eventf(obj, typ, reason, format, args...)
}

// find returns the Events on object with reason.
func (r *recorder) find(object, reason string) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, e := range r.events {
		if e.object == object && e.reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// Object builders.

func pool(name string, age int, addrs ...string) *v1alpha1.IPAddressPool {
	p := &v1alpha1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: ns, CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(age) * time.Minute)),
	}}
	for _, a := range addrs {
		p.Spec.Addresses = append(p.Spec.Addresses, v1alpha1.AddressRange(a))
	}
	return p
}

func advert(name string, pools ...string) *v1alpha1.L2Advertisement {
	return &v1alpha1.L2Advertisement{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: metav1.NewTime(t0)},
		Spec:       v1alpha1.L2AdvertisementSpec{IPAddressPools: pools},
	}
}

type svcMod func(*corev1.Service)

func svc(name string, mods ...svcMod) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: metav1.NewTime(t0)},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Ports:    []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80}},
			Selector: map[string]string{"app": name},
		},
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

func lbIP(ip string) svcMod { return func(s *corev1.Service) { s.Spec.LoadBalancerIP = ip } }
func anno(k, v string) svcMod {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[k] = v
	}
}
func class(c string) svcMod { return func(s *corev1.Service) { s.Spec.LoadBalancerClass = &c } }
func svcType(t corev1.ServiceType) svcMod {
	return func(s *corev1.Service) { s.Spec.Type = t }
}
func ports(ps ...int32) svcMod {
	return func(s *corev1.Service) {
		s.Spec.Ports = nil
		for _, p := range ps {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Protocol: corev1.ProtocolTCP, Port: p})
		}
	}
}
func created(min int) svcMod {
	return func(s *corev1.Service) {
		s.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(min) * time.Minute))
	}
}
func dualStack() svcMod {
	return func(s *corev1.Service) {
		p := corev1.IPFamilyPolicyRequireDualStack
		s.Spec.IPFamilyPolicy = &p
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	}
}
func status(ips ...string) svcMod {
	return func(s *corev1.Service) {
		vip := corev1.LoadBalancerIPModeVIP
		for _, ip := range ips {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip, IPMode: &vip})
		}
	}
}

// fakes are the two fake clientsets a test's objects live in.
type fakes struct {
	kube *kfake.Clientset
	lb   *lbfake.Clientset
}

func newFakes(objs ...runtime.Object) fakes {
	var kubeObjs, lbObjs []runtime.Object
	for _, o := range objs {
		switch o.(type) {
		case *v1alpha1.IPAddressPool, *v1alpha1.L2Advertisement:
			lbObjs = append(lbObjs, o)
		default:
			kubeObjs = append(kubeObjs, o)
		}
	}
	kubeObjs = append(kubeObjs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
	kube := kfake.NewClientset(kubeObjs...)
	withLeaseAPI(kube) // the elector relies on resourceVersions
	return fakes{kube: kube, lb: lbfake.NewSimpleClientset(lbObjs...)}
}

func (f fakes) ips(t *testing.T, name string) []string {
	t.Helper()
	s, err := f.kube.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get Service %s: %v", name, err)
	}
	var out []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		out = append(out, in.IP)
	}
	return out
}

func (f fakes) pool(t *testing.T, name string) *v1alpha1.IPAddressPool {
	t.Helper()
	p, err := f.lb.LeaselbV1alpha1().IPAddressPools(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pool %s: %v", name, err)
	}
	return p
}

// statusWrites counts UpdateStatus calls on the named Service.
func (f fakes) statusWrites(name string) int {
	n := 0
	for _, a := range f.kube.Actions() {
		u, ok := a.(k8stesting.UpdateAction)
		if !ok || a.GetResource().Resource != "services" || a.GetSubresource() != "status" {
			continue
		}
		if s, ok := u.GetObject().(*corev1.Service); ok && s.Name == name {
			n++
		}
	}
	return n
}

// allWrites counts create, update and delete calls on both clientsets,
// Events and Leases aside.
func (f fakes) allWrites() int {
	n := 0
	for _, as := range [][]k8stesting.Action{f.kube.Actions(), f.lb.Actions()} {
		for _, a := range as {
			switch a.GetVerb() {
			case "create", "update", "patch", "delete":
				if r := a.GetResource().Resource; r != "events" && r != "leases" {
					n++
				}
			}
		}
	}
	return n
}

// A harness drives one leadership term by hand: it copies the fakes'
// objects into the informer caches, calls the same event handlers the
// informers would, and runs the worker until the queue is empty. No
// goroutines, no timing.
type harness struct {
	fakes
	t   *testing.T
	rec *recorder
	reg *prometheus.Registry
	c   *Controller
	tm  *term
}

type harnessOpt func(*Config)

func requireClass(c *Config) { c.RequireClass = true }

func newHarness(t *testing.T, objs []runtime.Object, opts ...harnessOpt) *harness {
	t.Helper()
	return newHarnessOn(t, newFakes(objs...), opts...)
}

// newHarnessOn starts a new term on existing fakes: a controller restart.
func newHarnessOn(t *testing.T, f fakes, opts ...harnessOpt) *harness {
	t.Helper()
	h := &harness{fakes: f, t: t, rec: &recorder{}, reg: prometheus.NewRegistry()}
	cfg := Config{
		Kube: f.kube, Leaselb: f.lb, Namespace: ns, Log: zaptest.NewLogger(t),
		Registerer: h.reg, Recorder: h.rec, Clock: clocktesting.NewFakePassiveClock(t0.Add(time.Hour)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.refresh()
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[item]())
	t.Cleanup(q.ShutDown)
	c.queue = q
	h.tm = newTerm(c, q)
	h.tm.start()
	h.settle()
	return h
}

// refresh makes the informer caches match the fakes and calls the event
// handlers for every difference, as the informers would.
func (h *harness) refresh() {
	ctx := context.Background()
	svcs, _ := h.kube.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	nss, _ := h.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	pools, _ := h.lb.LeaselbV1alpha1().IPAddressPools(ns).List(ctx, metav1.ListOptions{})
	ads, _ := h.lb.LeaselbV1alpha1().L2Advertisements(ns).List(ctx, metav1.ListOptions{})
	var svcObjs, nsObjs, poolObjs, adObjs []runtime.Object
	for i := range svcs.Items {
		svcObjs = append(svcObjs, &svcs.Items[i])
	}
	for i := range nss.Items {
		nsObjs = append(nsObjs, &nss.Items[i])
	}
	for i := range pools.Items {
		poolObjs = append(poolObjs, &pools.Items[i])
	}
	for i := range ads.Items {
		adObjs = append(adObjs, &ads.Items[i])
	}
	c := h.c
	sync := func(inf cache.SharedIndexInformer, objs []runtime.Object, add func(any), upd func(any, any), del func(any)) {
		idx := inf.GetIndexer()
		seen := map[string]bool{}
		for _, o := range objs {
			k, _ := cache.MetaNamespaceKeyFunc(o)
			seen[k] = true
			old, exists, _ := idx.GetByKey(k)
			switch {
			case !exists:
				_ = idx.Add(o)
				if add != nil {
					add(o)
				}
			case !equality.Semantic.DeepEqual(old, o):
				_ = idx.Update(o)
				if upd != nil {
					upd(old, o)
				}
			}
		}
		for _, k := range idx.ListKeys() {
			if !seen[k] {
				old, _, _ := idx.GetByKey(k)
				_ = idx.Delete(old)
				if del != nil {
					del(old)
				}
			}
		}
	}
	sync(c.kubeInformers.Core().V1().Services().Informer(), svcObjs, c.onService, func(_, o any) { c.onService(o) }, c.onService)
	sync(c.kubeInformers.Core().V1().Namespaces().Informer(), nsObjs, nil, c.onNamespaceUpdate, nil)
	sync(c.lbInformers.Leaselb().V1alpha1().IPAddressPools().Informer(), poolObjs,
		func(any) { c.enqueue(item{kind: kindPools}) }, c.onPoolUpdate, func(any) { c.enqueue(item{kind: kindPools}) })
	sync(c.lbInformers.Leaselb().V1alpha1().L2Advertisements().Informer(), adObjs,
		func(any) { c.enqueue(item{kind: kindStatus}) }, c.onAdvertisementUpdate, func(any) { c.enqueue(item{kind: kindStatus}) })
}

// settle runs the worker and refreshes the caches until nothing is left to
// do. It fails the test if the controller keeps finding work: a write loop.
func (h *harness) settle() {
	h.t.Helper()
	ctx := context.Background()
	for round := 0; round < 20; round++ {
		if h.tm.queue.Len() == 0 {
			h.refresh()
			if h.tm.queue.Len() == 0 {
				return
			}
		}
		for h.tm.queue.Len() > 0 {
			h.tm.processNext(ctx)
		}
	}
	h.t.Fatalf("controller did not settle after 20 rounds: a write loop?")
}

func (h *harness) create(o runtime.Object) {
	h.t.Helper()
	ctx := context.Background()
	var err error
	switch o := o.(type) {
	case *corev1.Service:
		_, err = h.kube.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *v1alpha1.IPAddressPool:
		_, err = h.lb.LeaselbV1alpha1().IPAddressPools(ns).Create(ctx, o, metav1.CreateOptions{})
	case *v1alpha1.L2Advertisement:
		_, err = h.lb.LeaselbV1alpha1().L2Advertisements(ns).Create(ctx, o, metav1.CreateOptions{})
	}
	if err != nil {
		h.t.Fatal(err)
	}
	h.settle()
}

// editService changes a Service's spec (keeping its status) and settles.
func (h *harness) editService(name string, mods ...svcMod) {
	h.t.Helper()
	ctx := context.Background()
	s, err := h.kube.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, m := range mods {
		m(s)
	}
	if _, err := h.kube.CoreV1().Services("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		h.t.Fatal(err)
	}
	h.settle()
}

func (h *harness) editPool(name string, addrs ...string) {
	h.t.Helper()
	ctx := context.Background()
	p := h.pool(h.t, name)
	p.Spec.Addresses = nil
	for _, a := range addrs {
		p.Spec.Addresses = append(p.Spec.Addresses, v1alpha1.AddressRange(a))
	}
	if _, err := h.lb.LeaselbV1alpha1().IPAddressPools(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		h.t.Fatal(err)
	}
	h.settle()
}

func (h *harness) deleteService(name string) {
	h.t.Helper()
	if err := h.kube.CoreV1().Services("default").Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		h.t.Fatal(err)
	}
	h.settle()
}

func (h *harness) deletePool(name string) {
	h.t.Helper()
	if err := h.lb.LeaselbV1alpha1().IPAddressPools(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		h.t.Fatal(err)
	}
	h.settle()
}

// wantIPs fails unless the Service's status holds exactly ips, in order.
func (h *harness) wantIPs(name string, ips ...string) {
	h.t.Helper()
	if got := h.ips(h.t, name); !slices.Equal(got, ips) {
		h.t.Errorf("Service %s status IPs = %v, want %v", name, got, ips)
	}
}

// wantEvent fails unless exactly n Events with reason are on the Service,
// and each contains every one of parts.
func (h *harness) wantEvent(name, reason string, n int, parts ...string) {
	h.t.Helper()
	evs := h.rec.find("default/"+name, reason)
	if len(evs) != n {
		h.t.Errorf("Service %s: %d %s Events, want %d: %v", name, len(evs), reason, n, evs)
		return
	}
	for _, e := range evs {
		for _, p := range parts {
			if !strings.Contains(e.message, p) {
				h.t.Errorf("Service %s: %s Event %q does not contain %q", name, reason, e.message, p)
			}
		}
	}
}

// condition returns a pool's or advertisement's condition of type typ.
func condition(conds []metav1.Condition, typ string) metav1.Condition {
	for _, c := range conds {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// sortedIPs returns the status IPs of several Services, sorted.
func (h *harness) sortedIPs(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, h.ips(h.t, n)...)
	}
	sort.Strings(out)
	return out
}

// value returns the one sample a collector yields (a gauge or a counter),
// like prometheus/testutil.ToFloat64 without its extra module.
func value(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	c.Collect(ch)
	close(ch)
	var ms []prometheus.Metric
	for m := range ch {
		ms = append(ms, m)
	}
	if len(ms) != 1 {
		t.Fatalf("collector yields %d samples, want 1", len(ms))
	}
	var d dto.Metric
	if err := ms[0].Write(&d); err != nil {
		t.Fatal(err)
	}
	switch {
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	case d.Counter != nil:
		return d.Counter.GetValue()
	}
	t.Fatalf("sample is neither gauge nor counter")
	return 0
}

// count returns how many samples a collector yields.
func count(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 1024)
	c.Collect(ch)
	close(ch)
	return len(ch)
}
