package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/leaselb/leaselb/allocator"
	"github.com/leaselb/leaselb/api/v1alpha1"
)

// Status condition types and reasons on pools and advertisements.
const (
	ConditionValid      = "Valid"
	ConditionAdvertised = "Advertised"

	ReasonValid            = "Valid"
	ReasonInvalidAddresses = "InvalidAddresses"
	ReasonInvalidSelector  = "InvalidSelector"
	ReasonOverlap          = "Overlap"
	ReasonAdvertised       = "Advertised"
	ReasonNoAdvertisement  = "NoAdvertisement"
	ReasonUnknownPool      = "UnknownPool"
)

// poolProblem is why a pool's current spec is rejected.
type poolProblem struct {
	reason, message string
}

// poolSpec copies an IPAddressPool into the allocator's terms.
func poolSpec(p *v1alpha1.IPAddressPool) (allocator.PoolSpec, error) {
	s := allocator.PoolSpec{
		Name:          p.Name,
		AutoAssign:    p.Spec.AutoAssign == nil || *p.Spec.AutoAssign,
		AvoidBuggyIPs: p.Spec.AvoidBuggyIPs,
	}
	for _, a := range p.Spec.Addresses {
		s.Addresses = append(s.Addresses, string(a))
	}
	if sa := p.Spec.ServiceAllocation; sa != nil {
		s.HasAllocation = true
		s.Priority = sa.Priority
		s.Namespaces = sa.Namespaces
		for i := range sa.NamespaceSelectors {
			sel, err := sa.NamespaceSelectors[i].AsSelector()
			if err != nil {
				return s, fmt.Errorf("pool %q: serviceAllocation.namespaceSelectors[%d]: %w; fix the selector", p.Name, i, err)
			}
			s.NamespaceSelectors = append(s.NamespaceSelectors, sel)
		}
		for i := range sa.ServiceSelectors {
			sel, err := sa.ServiceSelectors[i].AsSelector()
			if err != nil {
				return s, fmt.Errorf("pool %q: serviceAllocation.serviceSelectors[%d]: %w; fix the selector", p.Name, i, err)
			}
			s.ServiceSelectors = append(s.ServiceSelectors, sel)
		}
	}
	return s, nil
}

// listPools returns the pools oldest first (then by name): when two new
// pools overlap, the younger is the one rejected.
func (t *term) listPools() []*v1alpha1.IPAddressPool {
	pools, err := t.c.pools.List(labels.Everything())
	if err != nil {
		t.log.Error("listing IPAddressPools from the cache", zap.Error(err))
	}
	sort.Slice(pools, func(i, j int) bool {
		a, b := pools[i], pools[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
	return pools
}

// syncPools works out which version of each pool the allocator should
// hold (acceptPools) and hands the set to it. Only a pool deleted, or
// edited to a valid spec that drops an IP, moves Services. After a change,
// every Service of ours is looked at again (runtime true).
func (t *term) syncPools(runtime bool) {
	pools := t.listPools()
	changed := t.forgetDeleted(pools)
	accepted, problems, rejected := acceptPools(pools, t.effective, t.effectiveSpec)
	oldProblems := t.problems
	t.applyPools(pools, accepted, problems, rejected)
	if changed = changed || len(accepted) > 0; changed {
		t.setAllocatorPools()
	}
	if runtime {
		if changed || !equality.Semantic.DeepEqual(oldProblems, t.problems) {
			t.enqueueOurs()
		}
		t.queue.Add(item{kind: kindStatus})
	}
}

// forgetDeleted drops the effective versions of pools that no longer
// exist; it reports whether there were any.
func (t *term) forgetDeleted(pools []*v1alpha1.IPAddressPool) bool {
	present := map[string]bool{}
	for _, p := range pools {
		present[p.Name] = true
	}
	changed := false
	for name := range t.effective {
		if !present[name] {
			delete(t.effective, name)
			delete(t.effectiveSpec, name)
			changed = true
			t.log.Info("pool deleted", zap.String("pool", name))
		}
	}
	return changed
}

// acceptedPool is a pool's current spec, accepted, and its parsed form.
type acceptedPool struct {
	pool *allocator.Pool
	spec v1alpha1.IPAddressPoolSpec
}

// acceptPools decides which pools' current specs the allocator should take,
// given the versions it holds (effective, parsed from effectiveSpec). It
// changes nothing. pools come oldest first (listPools). A pool whose spec is
// unchanged is left as it is; another is accepted when it parses and
// overlaps no pool accepted before it (this round or earlier), else it gets
// a problem, and its last accepted version (if any) stays, so the Services
// using it keep their IPs. Accepting or rejecting one pool can free another,
// so it repeats until nothing more is accepted. rejected holds the parsed
// versions of pools rejected for overlap.
func acceptPools(pools []*v1alpha1.IPAddressPool, effective map[string]*allocator.Pool, effectiveSpec map[string]v1alpha1.IPAddressPoolSpec) (
	accepted map[string]acceptedPool, problems map[string]poolProblem, rejected map[string]*allocator.Pool) {
	accepted, problems, rejected = map[string]acceptedPool{}, map[string]poolProblem{}, map[string]*allocator.Pool{}
	kept := func(name, msg string) string { return keptNote(effective[name] != nil, msg) }
	candidates := map[string]*allocator.Pool{}
	for _, p := range pools {
		if spec, ok := effectiveSpec[p.Name]; ok && equality.Semantic.DeepEqual(spec, p.Spec) {
			continue // in use as it is
		}
		reason := ReasonInvalidSelector
		spec, err := poolSpec(p)
		var parsed *allocator.Pool
		if err == nil {
			reason = ReasonInvalidAddresses
			parsed, err = allocator.NewPool(spec)
		}
		if err != nil {
			problems[p.Name] = poolProblem{reason, kept(p.Name, err.Error())}
			continue
		}
		candidates[p.Name] = parsed
	}
	held := func(name string) *allocator.Pool {
		if a, ok := accepted[name]; ok {
			return a.pool
		}
		return effective[name]
	}
	for progress := true; progress; {
		progress = false
		for _, p := range pools {
			cand := candidates[p.Name]
			if cand == nil {
				continue
			}
			if other, ip, ok := overlap(p.Name, cand, pools, held); ok {
				problems[p.Name] = poolProblem{ReasonOverlap, kept(p.Name, fmt.Sprintf(
					"pool %q: address %s is also in pool %q, which was accepted first; remove the shared addresses from one of the two pools",
					p.Name, ip, other))}
				continue
			}
			delete(problems, p.Name)
			delete(candidates, p.Name)
			accepted[p.Name] = acceptedPool{pool: cand, spec: *p.Spec.DeepCopy()}
			progress = true
		}
	}
	for name, cand := range candidates {
		rejected[name] = cand
	}
	return accepted, problems, rejected
}

// applyPools takes acceptPools' verdict: the accepted versions become
// effective, problems new since the last round are logged, counted and
// raised as a Warning Event on the pool (reason: the Valid condition's).
func (t *term) applyPools(pools []*v1alpha1.IPAddressPool, accepted map[string]acceptedPool, problems map[string]poolProblem, rejected map[string]*allocator.Pool) {
	for _, p := range pools {
		if a, ok := accepted[p.Name]; ok {
			t.effective[p.Name], t.effectiveSpec[p.Name] = a.pool, a.spec
			t.log.Info("pool loaded", zap.String("pool", p.Name), zap.Strings("addresses", addressStrings(p)))
		}
	}
	oldProblems := t.problems
	t.problems, t.rejected, t.unparsed = problems, rejected, nil
	for _, p := range pools {
		pr, bad := problems[p.Name]
		if !bad {
			continue
		}
		if _, overlaps := rejected[p.Name]; !overlaps && t.effective[p.Name] == nil {
			t.unparsed = append(t.unparsed, p.Name)
		}
		if oldProblems[p.Name] != pr {
			t.log.Info("pool rejected", zap.String("pool", p.Name), zap.String("reason", pr.reason), zap.String("error", pr.message))
			t.c.metrics.errors.WithLabelValues(errInvalidPool).Inc()
			t.c.recorder.Event(p, corev1.EventTypeWarning, pr.reason, pr.message)
		}
	}
	t.c.metrics.invalidPools.Set(float64(len(t.problems)))
}

// setAllocatorPools hands the effective pools to the allocator and moves
// the Services whose IPs left every pool.
func (t *term) setAllocatorPools() {
	set := make([]*allocator.Pool, 0, len(t.effective))
	for _, n := range slices.Sorted(maps.Keys(t.effective)) {
		set = append(set, t.effective[n])
	}
	for _, k := range t.alloc.SetPools(set) {
		t.moved[k] = t.orphanReason(k)
		t.alloc.Release(k)
		t.queue.Add(item{kind: kindService, name: k})
	}
}

// overlap finds the first pool (other than name) whose held version shares
// an address with cand.
func overlap(name string, cand *allocator.Pool, pools []*v1alpha1.IPAddressPool, held func(string) *allocator.Pool) (string, string, bool) {
	for _, q := range pools {
		h := held(q.Name)
		if q.Name == name || h == nil {
			continue
		}
		if ip, ok := allocator.Overlap(cand, h); ok {
			return q.Name, ip.String(), true
		}
	}
	return "", "", false
}

// keptNote tells the reader what happens meanwhile: whether the pool's
// previous version stays in use.
func keptNote(previous bool, msg string) string {
	if previous {
		return msg + "; until then the pool's previous addresses stay in use"
	}
	return msg + "; the pool is ignored until then"
}

// orphanReason says why a Service's IP left every pool, for IPChanged.
func (t *term) orphanReason(k string) string {
	asg, ok := t.alloc.Assigned(k)
	if !ok {
		return "its pool changed"
	}
	if t.effective[asg.Pool] == nil {
		return fmt.Sprintf("pool %q was deleted", asg.Pool)
	}
	var gone []string
	for _, ip := range asg.IPs {
		if !t.effective[asg.Pool].Contains(ip) {
			gone = append(gone, ip.String())
		}
	}
	return fmt.Sprintf("pool %q was edited and no longer contains %s", asg.Pool, strings.Join(gone, ", "))
}

func addressStrings(p *v1alpha1.IPAddressPool) []string {
	out := make([]string, 0, len(p.Spec.Addresses))
	for _, a := range p.Spec.Addresses {
		out = append(out, string(a))
	}
	return out
}

// writeStatus brings pool and advertisement status and the pool metrics in
// line with the allocator. The statuses are computed by the pure
// advertisementProblems, poolStatus and adStatus; objects whose status
// would not change are not written.
func (t *term) writeStatus(ctx context.Context) error {
	pools := t.listPools()
	ads, err := t.c.ads.List(labels.Everything())
	if err != nil {
		return err
	}
	sort.Slice(ads, func(i, j int) bool { return ads[i].Name < ads[j].Name })
	now := metav1.NewTime(t.c.clock.Now())
	stats := t.alloc.Stats()
	present := map[string]bool{}
	for _, p := range pools {
		present[p.Name] = true
	}
	adSels, adProblems := advertisementProblems(ads, present, t.c.cfg.Namespace)

	var errs []error
	for _, p := range pools {
		st, effective := stats[p.Name], t.effective[p.Name] != nil
		if !effective {
			st = allocator.Stats{}
		}
		var by []string
		for _, ad := range ads {
			if ad.Covers(p, adSels[ad.Name]) {
				by = append(by, ad.Name)
			}
		}
		pr, bad := t.problems[p.Name]
		want := poolStatus(p, st, pr, bad, by, t.c.cfg.Namespace, now)
		t.poolMetrics(p.Name, effective, st)
		if equality.Semantic.DeepEqual(&p.Status, want) {
			continue
		}
		upd := p.DeepCopy()
		upd.Status = *want
		_, err := t.c.cfg.Leaselb.LeaselbV1alpha1().IPAddressPools(p.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{FieldManager: Component})
		errs = append(errs, t.countWrite("ipaddresspool", p.Name, err))
	}
	for name := range t.poolsSeen {
		if !present[name] {
			t.c.metrics.deletePool(name)
			delete(t.poolsSeen, name)
		}
	}

	for _, ad := range ads {
		pr, bad := adProblems[ad.Name]
		want := adStatus(ad, pr, bad, now)
		if equality.Semantic.DeepEqual(&ad.Status, want) {
			continue
		}
		upd := ad.DeepCopy()
		upd.Status = *want
		_, err := t.c.cfg.Leaselb.LeaselbV1alpha1().L2Advertisements(ad.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{FieldManager: Component})
		errs = append(errs, t.countWrite("l2advertisement", ad.Name, err))
	}
	return errors.Join(errs...)
}

// advertisementProblems converts each advertisement's pool selectors and
// finds what is wrong with it: a selector that does not parse, or a named
// pool that does not exist (present holds the pools that do).
func advertisementProblems(ads []*v1alpha1.L2Advertisement, present map[string]bool, namespace string) (map[string][]labels.Selector, map[string]poolProblem) {
	sels := map[string][]labels.Selector{}
	problems := map[string]poolProblem{}
	for _, ad := range ads {
		for i := range ad.Spec.IPAddressPoolSelectors {
			s, err := ad.Spec.IPAddressPoolSelectors[i].AsSelector()
			if err != nil {
				problems[ad.Name] = poolProblem{ReasonInvalidSelector, fmt.Sprintf(
					"L2Advertisement %q: ipAddressPoolSelectors[%d]: %v; fix the selector", ad.Name, i, err)}
				continue
			}
			sels[ad.Name] = append(sels[ad.Name], s)
		}
		var unknown []string
		for _, name := range ad.Spec.IPAddressPools {
			if !present[name] {
				unknown = append(unknown, name)
			}
		}
		if len(unknown) > 0 {
			problems[ad.Name] = poolProblem{ReasonUnknownPool, fmt.Sprintf(
				"L2Advertisement %q names IPAddressPool %s, which does not exist in namespace %s; create it or fix the name in spec.ipAddressPools",
				ad.Name, strings.Join(unknown, ", "), namespace)}
		}
	}
	return sels, problems
}

// poolStatus is the status pool p should have: the allocator's counts s,
// Valid (false with the problem pr when bad) and Advertised (by the
// advertisements named in by).
func poolStatus(p *v1alpha1.IPAddressPool, s allocator.Stats, pr poolProblem, bad bool, by []string, namespace string, now metav1.Time) *v1alpha1.IPAddressPoolStatus {
	st := p.Status.DeepCopy()
	st.AssignedIPv4, st.AvailableIPv4 = saturate(s.AssignedIPv4), saturate(s.AvailableIPv4)
	st.AssignedIPv6, st.AvailableIPv6 = saturate(s.AssignedIPv6), saturate(s.AvailableIPv6)
	valid := metav1.Condition{Type: ConditionValid, Status: metav1.ConditionTrue, Reason: ReasonValid,
		Message: "addresses parse and overlap no other pool", ObservedGeneration: p.Generation, LastTransitionTime: now}
	if bad {
		valid.Status, valid.Reason, valid.Message = metav1.ConditionFalse, pr.reason, pr.message
	}
	meta.SetStatusCondition(&st.Conditions, valid)
	adv := metav1.Condition{Type: ConditionAdvertised, Status: metav1.ConditionTrue, Reason: ReasonAdvertised,
		Message: "announced per L2Advertisement " + strings.Join(by, ", "), ObservedGeneration: p.Generation, LastTransitionTime: now}
	if len(by) == 0 {
		adv.Status, adv.Reason = metav1.ConditionFalse, ReasonNoAdvertisement
		adv.Message = fmt.Sprintf("no L2Advertisement in namespace %s covers this pool, so its IPs are assigned but not announced; create one that lists %q in spec.ipAddressPools",
			namespace, p.Name)
	}
	meta.SetStatusCondition(&st.Conditions, adv)
	return st
}

// adStatus is the status advertisement ad should have.
func adStatus(ad *v1alpha1.L2Advertisement, pr poolProblem, bad bool, now metav1.Time) *v1alpha1.L2AdvertisementStatus {
	st := ad.Status.DeepCopy()
	valid := metav1.Condition{Type: ConditionValid, Status: metav1.ConditionTrue, Reason: ReasonValid,
		Message: "every named pool exists", ObservedGeneration: ad.Generation, LastTransitionTime: now}
	if bad {
		valid.Status, valid.Reason, valid.Message = metav1.ConditionFalse, pr.reason, pr.message
	}
	meta.SetStatusCondition(&st.Conditions, valid)
	return st
}

// poolMetrics publishes a pool's counts while the allocator holds it and
// drops its series once it does not.
func (t *term) poolMetrics(name string, effective bool, s allocator.Stats) {
	if effective {
		t.c.metrics.setPool(name, s)
		t.poolsSeen[name] = true
	} else if t.poolsSeen[name] {
		t.c.metrics.deletePool(name)
		delete(t.poolsSeen, name)
	}
}

// countWrite records a status write; a conflict or other error is returned
// so the status item is retried (the cache will have caught up by then).
func (t *term) countWrite(resource, name string, err error) error {
	if err == nil {
		t.c.metrics.writes.WithLabelValues(resource, "ok").Inc()
		return nil
	}
	t.c.metrics.writes.WithLabelValues(resource, "error").Inc()
	if apierrors.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("update status of %s %s/%s: %w", resource, t.c.cfg.Namespace, name, err)
}
