package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/leaselb/leaselb/allocator"
	"github.com/leaselb/leaselb/api/v1alpha1"
)

// Event reasons on Services.
const (
	ReasonIPAllocated          = "IPAllocated"
	ReasonAllocationFailed     = "AllocationFailed"
	ReasonIPChanged            = "IPChanged"
	ReasonDeprecatedAnnotation = "DeprecatedAnnotation"
)

// The MetalLB annotations leaselb reads too, so a MetalLB user's Services
// keep their IPs; each use gets a DeprecatedAnnotation Event naming the
// leaselb form.
var deprecatedAnnotations = map[string][]string{
	v1alpha1.AnnotationLoadBalancerIPs: {"metallb.universe.tf/loadBalancerIPs", "metallb.io/loadBalancerIPs"},
	v1alpha1.AnnotationAddressPool:     {"metallb.universe.tf/address-pool", "metallb.io/address-pool"},
	v1alpha1.AnnotationAllowSharedIP:   {"metallb.universe.tf/allow-shared-ip", "metallb.io/allow-shared-ip"},
}

// deprecation is one MetalLB annotation found on a Service.
type deprecation struct {
	old, current string
	ignored      bool // the leaselb form is set too and wins
}

// A MetalLBAnnotation is a MetalLB form of a leaselb Service annotation
// found on a Service, and what the controller reads it as.
type MetalLBAnnotation struct {
	// Name and Value are the MetalLB annotation as written.
	Name, Value string
	// Leaselb is the leaselb annotation it stands for.
	Leaselb string
	// Ignored: the Service sets the leaselb form too, which wins.
	Ignored bool
}

// MetalLBAnnotations lists the MetalLB annotations of s the controller
// reads, found by the same lookup it allocates with, so that `leaselb
// convert` reports exactly what the controller will make of them.
func MetalLBAnnotations(s *corev1.Service) []MetalLBAnnotation {
	var out []MetalLBAnnotation
	for _, name := range []string{v1alpha1.AnnotationLoadBalancerIPs, v1alpha1.AnnotationAddressPool, v1alpha1.AnnotationAllowSharedIP} {
		_, deps := annotation(s, name)
		for _, d := range deps {
			out = append(out, MetalLBAnnotation{Name: d.old, Value: s.Annotations[d.old], Leaselb: d.current, Ignored: d.ignored})
		}
	}
	return out
}

// serviceRequest is the allocator's view of a Service plus what only the
// controller can see about it.
type serviceRequest struct {
	allocator.Request
	deprecated []deprecation
	// problem is a contradiction in the Service the allocator is never
	// asked about (two different requested IP sources).
	problem string
}

func key(s *corev1.Service) string { return s.Namespace + "/" + s.Name }

// ours reports whether the Service is leaselb's to serve under this
// controller's --require-class.
func (t *term) ours(s *corev1.Service) bool { return v1alpha1.Serves(s, t.c.cfg.RequireClass) }

// annotation returns the value of a leaselb annotation, falling back to its
// MetalLB forms, and the MetalLB forms present.
func annotation(s *corev1.Service, name string) (string, []deprecation) {
	v, found := s.Annotations[name]
	var deps []deprecation
	for _, old := range deprecatedAnnotations[name] {
		ov, ok := s.Annotations[old]
		if !ok {
			continue
		}
		deps = append(deps, deprecation{old: old, current: name, ignored: found})
		if !found {
			v, found = ov, true
		}
	}
	return strings.TrimSpace(v), deps
}

// request builds the allocator request for a Service.
func (t *term) request(s *corev1.Service) serviceRequest {
	r := serviceRequest{Request: allocator.Request{
		Service:            key(s),
		Namespace:          s.Namespace,
		Labels:             s.Labels,
		TrafficPolicyLocal: s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
		Selector:           s.Spec.Selector,
	}}
	if ns, err := t.c.namespaces.Get(s.Namespace); err == nil {
		r.NamespaceLabels = ns.Labels
	}
	ipsAnno, deps := annotation(s, v1alpha1.AnnotationLoadBalancerIPs)
	r.deprecated = append(r.deprecated, deps...)
	var pool, share string
	pool, deps = annotation(s, v1alpha1.AnnotationAddressPool)
	r.deprecated = append(r.deprecated, deps...)
	share, deps = annotation(s, v1alpha1.AnnotationAllowSharedIP)
	r.deprecated = append(r.deprecated, deps...)
	r.Pool, r.SharingKey = pool, share

	var annoIPs []string
	for _, f := range strings.Split(ipsAnno, ",") {
		if f = strings.TrimSpace(f); f != "" {
			annoIPs = append(annoIPs, f)
		}
	}
	specIP := strings.TrimSpace(s.Spec.LoadBalancerIP)
	switch {
	case len(annoIPs) > 0:
		r.RequestedIPs = annoIPs
		if specIP != "" && !slices.Contains(annoIPs, specIP) {
			r.problem = fmt.Sprintf("spec.loadBalancerIP %s is not among the IPs of the %s annotation (%s); remove spec.loadBalancerIP, which Kubernetes deprecates, and keep the annotation",
				specIP, v1alpha1.AnnotationLoadBalancerIPs, strings.Join(annoIPs, ","))
		}
	case specIP != "":
		r.RequestedIPs = []string{specIP}
	}

	for _, p := range s.Spec.Ports {
		r.Ports = append(r.Ports, allocator.Port{Protocol: string(p.Protocol), Port: p.Port})
	}
	for _, f := range s.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			r.Families = append(r.Families, allocator.IPv4)
		case corev1.IPv6Protocol:
			r.Families = append(r.Families, allocator.IPv6)
		}
	}
	if s.Spec.IPFamilyPolicy != nil {
		r.FamilyPolicy = allocator.FamilyPolicy(*s.Spec.IPFamilyPolicy)
	}
	return r
}

// statusIPs parses the IPs in a Service's status; ok is false when an
// entry is not an IP.
func statusIPs(s *corev1.Service) (ips []netip.Addr, ok bool) {
	ok = true
	for _, in := range s.Status.LoadBalancer.Ingress {
		ip, err := netip.ParseAddr(in.IP)
		if err != nil {
			ok = false
			continue
		}
		ips = append(ips, ip.Unmap())
	}
	return ips, ok
}

// ingress is the status leaselb writes for IPs.
func ingress(ips []netip.Addr) []corev1.LoadBalancerIngress {
	if len(ips) == 0 {
		return nil
	}
	vip := corev1.LoadBalancerIPModeVIP
	out := make([]corev1.LoadBalancerIngress, 0, len(ips))
	for _, ip := range ips {
		out = append(out, corev1.LoadBalancerIngress{IP: ip.String(), IPMode: &vip})
	}
	return out
}

// reconcileService brings one Service's status in line with the allocator:
// after a restart it first takes back the IPs the status shows (restore),
// then asks the allocator for what the Service requests now, and writes and
// reports the outcome (allocationFailed, assigned).
func (t *term) reconcileService(ctx context.Context, k string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return nil
	}
	s, err := t.c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		t.serviceDeleted(k)
		return nil
	}
	if err != nil {
		return err
	}
	if !t.ours(s) {
		return t.disown(ctx, s)
	}

	req := t.request(s)
	t.warnDeprecated(s, req.deprecated)
	old, oldOK := statusIPs(s)
	cur, has, keep := t.restore(s, req, old, oldOK)
	if keep {
		return nil
	}
	var asg allocator.Assignment
	reason := errConflict
	if req.problem != "" {
		err = fmt.Errorf("service %s: %s", k, req.problem)
	} else {
		asg, err = t.alloc.Allocate(req.Request)
		reason = errorReason(err)
	}
	if err != nil {
		return t.allocationFailed(ctx, s, old, err.Error(), reason)
	}
	if has && !slices.Equal(cur.IPs, asg.IPs) {
		defer t.retryPending()
	}
	return t.assigned(ctx, s, old, asg)
}

// serviceDeleted frees a deleted Service's IPs.
func (t *term) serviceDeleted(k string) {
	t.forget(k)
	if _, had := t.alloc.Assigned(k); had {
		t.alloc.Release(k)
		t.log.Info("Service deleted; IP freed", zap.String("service", k))
		t.retryPending()
		t.queue.Add(item{kind: kindStatus})
	}
}

// restore gives a Service the allocator does not know yet (a new term) the
// IPs its status shows, when they still fit; otherwise it records why they
// move (t.moved). It returns the Service's assignment afterwards, and keep
// true when the status IPs lie in an invalid pool: they stay, reported and
// not moved, until the pool is fixed.
func (t *term) restore(s *corev1.Service, req serviceRequest, old []netip.Addr, oldOK bool) (cur allocator.Assignment, has, keep bool) {
	k := key(s)
	cur, has = t.alloc.Assigned(k)
	if has || len(old) == 0 {
		return cur, has, false
	}
	if !oldOK {
		t.moved[k] = "its status held an address that is not an IP"
		return cur, has, false
	}
	if _, err := t.alloc.Assign(req.Request, old); err != nil {
		if _, orphan := t.moved[k]; !orphan {
			if pool, held := t.heldBy(old); held {
				// Reported, not applied: the IP stays until the pool is
				// fixed, and no valid pool can hand it to anyone else.
				t.fail(s, fmt.Sprintf("keeping %s, which lies in no valid pool: pool %q is invalid (see its status); fix the pool", ipsString(old), pool), errRestore)
				return cur, has, true
			}
			t.moved[k] = fmt.Sprintf("%s could not be kept (%v)", ipsString(old), err)
			t.c.metrics.errors.WithLabelValues(errRestore).Inc()
		}
		return cur, has, false
	}
	cur, has = t.alloc.Assigned(k)
	return cur, has, false
}

// allocationFailed reports a refused allocation and writes the status the
// Service keeps: the IPs the allocator kept for it, or none.
func (t *term) allocationFailed(ctx context.Context, s *corev1.Service, old []netip.Addr, msg, reason string) error {
	t.fail(s, msg, reason)
	if kept, ok := t.alloc.Assigned(key(s)); ok {
		// The allocator kept the previous IPs; so does the status.
		return t.writeIngress(ctx, s, kept)
	}
	if len(old) > 0 {
		// The old IPs are not reserved for this Service any more; showing
		// them would announce an address another Service may get.
		return t.writeIngress(ctx, s, allocator.Assignment{})
	}
	return nil
}

// ipChange is how a Service's IPs changed, which picks its Event.
type ipChange int

const (
	ipUnchanged ipChange = iota
	// ipAssigned: new, or a PreferDualStack Service that got its second
	// family; nothing it had changed.
	ipAssigned
	// ipMoved: an IP it had is gone.
	ipMoved
)

// changeOf classifies the move from the status IPs old to now.
func changeOf(old, now []netip.Addr) ipChange {
	switch {
	case slices.Equal(old, now):
		return ipUnchanged
	case len(old) == 0 || subset(old, now):
		return ipAssigned
	default:
		return ipMoved
	}
}

// assigned writes a successful assignment and reports what changed.
func (t *term) assigned(ctx context.Context, s *corev1.Service, old []netip.Addr, asg allocator.Assignment) error {
	k := key(s)
	if _, failed := t.failures[k]; failed {
		delete(t.failures, k)
		t.c.metrics.pending.Set(float64(len(t.failures)))
	}
	if err := t.writeIngress(ctx, s, asg); err != nil {
		return err
	}
	switch changeOf(old, asg.IPs) {
	case ipAssigned:
		t.log.Info("IP assigned", zap.String("service", k), zap.Stringers("ip", asg.IPs), zap.String("pool", asg.Pool))
		t.c.recorder.Eventf(s, corev1.EventTypeNormal, ReasonIPAllocated, "Assigned IP %s from pool %q", ipsString(asg.IPs), asg.Pool)
	case ipMoved:
		why := t.moved[k]
		if why == "" {
			why = "the Service's requested IPs, pool, sharing key or IP families changed"
		}
		t.log.Info("IP changed", zap.String("service", k), zap.Stringers("old", old), zap.Stringers("ip", asg.IPs),
			zap.String("pool", asg.Pool), zap.String("why", why))
		t.c.recorder.Eventf(s, corev1.EventTypeWarning, ReasonIPChanged, "IP changed from %s to %s (pool %q): %s", ipsString(old), ipsString(asg.IPs), asg.Pool, why)
	}
	delete(t.moved, k)
	return nil
}

// writeIngress sets the Service's status to the assignment's IPs, if that
// changes anything.
func (t *term) writeIngress(ctx context.Context, s *corev1.Service, asg allocator.Assignment) error {
	want := ingress(asg.IPs)
	if equality.Semantic.DeepEqual(s.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	upd := s.DeepCopy()
	upd.Status.LoadBalancer.Ingress = want
	_, err := t.c.cfg.Kube.CoreV1().Services(s.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{FieldManager: Component})
	if err != nil {
		t.c.metrics.writes.WithLabelValues("service", "error").Inc()
		if apierrors.IsNotFound(err) {
			return nil // deleted meanwhile; the delete event follows
		}
		return fmt.Errorf("update status of Service %s: %w", key(s), err)
	}
	t.c.metrics.writes.WithLabelValues("service", "ok").Inc()
	t.queue.Add(item{kind: kindStatus})
	return nil
}

// disown frees a Service that is no longer ours (type or class changed)
// and clears the status we wrote. A Service of another class is never
// touched unless this term gave it IPs.
func (t *term) disown(ctx context.Context, s *corev1.Service) error {
	k := key(s)
	_, had := t.alloc.Assigned(k)
	if had {
		t.alloc.Release(k)
		t.retryPending()
		t.queue.Add(item{kind: kindStatus})
		t.log.Info("Service is no longer leaselb's; IP freed", zap.String("service", k))
	}
	t.forget(k)
	if len(s.Status.LoadBalancer.Ingress) == 0 {
		return nil
	}
	// After a restart we no longer know what we wrote: a non-LoadBalancer
	// Service with IPs from our pools still shows our stale status.
	if !had && (s.Spec.Type == corev1.ServiceTypeLoadBalancer || !t.inOurPools(s)) {
		return nil
	}
	return t.writeIngress(ctx, s, allocator.Assignment{})
}

func (t *term) inOurPools(s *corev1.Service) bool {
	ips, _ := statusIPs(s)
	for _, ip := range ips {
		for _, p := range t.effective {
			if p.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// forget drops what the term remembers about a Service.
func (t *term) forget(k string) {
	if _, ok := t.failures[k]; ok {
		delete(t.failures, k)
		t.c.metrics.pending.Set(float64(len(t.failures)))
	}
	delete(t.moved, k)
	for w := range t.warned {
		if strings.HasPrefix(w, k+"\x00") {
			delete(t.warned, w)
		}
	}
}

// fail reports an allocation failure once per distinct message, so retries
// do not flood the Service's Events.
func (t *term) fail(s *corev1.Service, msg, reason string) {
	k := key(s)
	if t.failures[k] == msg {
		return
	}
	t.failures[k] = msg
	t.c.metrics.pending.Set(float64(len(t.failures)))
	t.c.metrics.errors.WithLabelValues(reason).Inc()
	t.log.Info("allocation failed", zap.String("service", k), zap.String("error", msg))
	t.c.recorder.Event(s, corev1.EventTypeWarning, ReasonAllocationFailed, msg)
}

// warnDeprecated sends one DeprecatedAnnotation Event per Service and
// MetalLB annotation per term.
func (t *term) warnDeprecated(s *corev1.Service, deps []deprecation) {
	for _, d := range deps {
		w := key(s) + "\x00" + d.old
		if t.warned[w] {
			continue
		}
		t.warned[w] = true
		if d.ignored {
			t.c.recorder.Eventf(s, corev1.EventTypeWarning, ReasonDeprecatedAnnotation,
				"annotation %s is ignored because %s is set; remove %s", d.old, d.current, d.old)
		} else {
			t.c.recorder.Eventf(s, corev1.EventTypeWarning, ReasonDeprecatedAnnotation,
				"annotation %s is deprecated; rename it to %s (same value)", d.old, d.current)
		}
	}
}

// heldBy reports whether IPs that no valid pool contains may belong to a
// rejected pool, which keeps them: a bad pool edit must not move Services.
func (t *term) heldBy(ips []netip.Addr) (string, bool) {
	for _, ip := range ips {
		for name, p := range t.rejected {
			if p.Contains(ip) {
				return name, true
			}
		}
	}
	if len(t.unparsed) == 0 {
		return "", false
	}
	for _, ip := range ips {
		for _, p := range t.effective {
			if p.Contains(ip) {
				return "", false
			}
		}
	}
	return t.unparsed[0], true
}

// subset reports whether every address of a is in b.
func subset(a, b []netip.Addr) bool {
	for _, ip := range a {
		if !slices.Contains(b, ip) {
			return false
		}
	}
	return true
}
