package controller

import (
	"context"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/leaselb/leaselb/allocator"
	"github.com/leaselb/leaselb/api/v1alpha1"
)

func TestClassFiltering(t *testing.T) {
	tests := []struct {
		name    string
		svc     *corev1.Service
		opts    []harnessOpt
		want    []string // status IPs after the controller ran
		ourWork bool     // the controller writes the Service's status
	}{
		{"no class is ours", svc("x"), nil, []string{"192.0.2.10"}, true},
		{"no class with --require-class", svc("x"), []harnessOpt{requireClass}, nil, false},
		{"our class with --require-class", svc("x", class(v1alpha1.LoadBalancerClass)), []harnessOpt{requireClass}, []string{"192.0.2.10"}, true},
		{"other class keeps its status", svc("x", class("example.com/lb"), status("203.0.113.7")), nil, []string{"203.0.113.7"}, false},
		{"other class with an IP from our pool", svc("x", class("example.com/lb"), status("192.0.2.10")), nil, []string{"192.0.2.10"}, false},
		{"NodePort", svc("x", svcType(corev1.ServiceTypeNodePort)), nil, nil, false},
		{"ClusterIP with a stale IP of ours", svc("x", svcType(corev1.ServiceTypeClusterIP), status("192.0.2.10")), nil, nil, true},
		{"ClusterIP with someone else's IP", svc("x", svcType(corev1.ServiceTypeClusterIP), status("203.0.113.7")), nil, []string{"203.0.113.7"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), advert("l2"), tt.svc}, tt.opts...)
			h.wantIPs("x", tt.want...)
			if n := h.statusWrites("x"); (n > 0) != tt.ourWork {
				t.Errorf("%d status writes, want some: %v", n, tt.ourWork)
			}
			if !tt.ourWork && len(h.rec.find("default/x", ReasonAllocationFailed))+len(h.rec.find("default/x", ReasonIPAllocated)) > 0 {
				t.Errorf("Events on a Service that is not ours: %v", h.rec.events)
			}
		})
	}
}

func TestStopsBeingOurs(t *testing.T) {
	tests := []struct {
		name string
		edit svcMod
	}{
		{"type ClusterIP", svcType(corev1.ServiceTypeClusterIP)},
		{"type NodePort", svcType(corev1.ServiceTypeNodePort)},
		{"other class", func(s *corev1.Service) { c := "example.com/lb"; s.Spec.LoadBalancerClass = &c }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []runtime.Object{pool("lan", 0, "192.0.2.10/32"), advert("l2")})
			h.create(svc("x"))
			h.create(svc("waiting")) // the pool has one IP
			h.wantIPs("x", "192.0.2.10")
			h.wantIPs("waiting")
			h.editService("x", tt.edit)
			h.wantIPs("x")
			h.wantIPs("waiting", "192.0.2.10") // the freed IP went to the waiting Service
		})
	}
}

func TestBadPools(t *testing.T) {
	tests := []struct {
		name       string
		objs       []runtime.Object
		edit       func(h *harness)
		bad        string // the pool reported invalid
		reason     string
		msgParts   []string
		keep       []string // Service web's IPs throughout
		goodPools  []string
		poolsAfter int // pools the allocator holds afterwards
	}{
		{
			name: "younger pool overlaps",
			objs: []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), pool("late", 1, "192.0.2.15-192.0.2.30")},
			bad:  "late", reason: ReasonOverlap, msgParts: []string{`"lan"`, "192.0.2.15", "ignored"},
			keep: []string{"192.0.2.10"}, goodPools: []string{"lan"}, poolsAfter: 1,
		},
		{
			name: "unparsable address",
			objs: []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), pool("typo", 1, "192.0.2.300/24")},
			bad:  "typo", reason: ReasonInvalidAddresses, msgParts: []string{"192.0.2.300"},
			keep: []string{"192.0.2.10"}, goodPools: []string{"lan"}, poolsAfter: 1,
		},
		{
			name: "edit to garbage keeps the last good version",
			objs: []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20")},
			edit: func(h *harness) { h.editPool("lan", "192.0.2.20-192.0.2.10x") },
			bad:  "lan", reason: ReasonInvalidAddresses, msgParts: []string{"previous addresses stay in use"},
			keep: []string{"192.0.2.10"}, poolsAfter: 1,
		},
		{
			name: "reversed IPv6 range keeps the last good version",
			objs: []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20")},
			edit: func(h *harness) { h.editPool("lan", "2001:db8::20-2001:db8::10") },
			bad:  "lan", reason: ReasonInvalidAddresses, msgParts: []string{"reversed"},
			keep: []string{"192.0.2.10"}, poolsAfter: 1,
		},
		{
			name: "older pool edited onto a pool in use is the one rejected",
			objs: []runtime.Object{pool("old", 0, "198.51.100.0/30"), pool("lan", 1, "192.0.2.10-192.0.2.20")},
			edit: func(h *harness) { h.editPool("old", "192.0.2.0/24") },
			bad:  "old", reason: ReasonOverlap, msgParts: []string{`"lan"`, "previous addresses stay in use"},
			keep: []string{"192.0.2.10"}, goodPools: []string{"lan"}, poolsAfter: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, append(tt.objs, advert("l2")))
			h.create(svc("web", anno(v1alpha1.AnnotationAddressPool, "lan")))
			h.wantIPs("web", tt.keep...)
			if tt.edit != nil {
				tt.edit(h)
			}
			h.wantIPs("web", tt.keep...)
			h.wantEvent("web", ReasonIPChanged, 0)
			c := condition(h.pool(t, tt.bad).Status.Conditions, ConditionValid)
			if c.Status != metav1.ConditionFalse || c.Reason != tt.reason {
				t.Errorf("pool %s Valid = %s/%s, want False/%s", tt.bad, c.Status, c.Reason, tt.reason)
			}
			for _, p := range tt.msgParts {
				if !strings.Contains(c.Message, p) {
					t.Errorf("pool %s Valid message %q does not contain %q", tt.bad, c.Message, p)
				}
			}
			// The same words as a Warning Event on the pool, once, for
			// `kubectl get events -w` (docs/allocation.md).
			if evs := h.rec.find(ns+"/"+tt.bad, tt.reason); len(evs) != 1 || evs[0].typ != corev1.EventTypeWarning || evs[0].message != c.Message {
				t.Errorf("pool %s: %s Events %v, want one Warning saying %q", tt.bad, tt.reason, evs, c.Message)
			}
			for _, g := range tt.goodPools {
				if c := condition(h.pool(t, g).Status.Conditions, ConditionValid); c.Status != metav1.ConditionTrue {
					t.Errorf("pool %s Valid = %s (%s), want True", g, c.Status, c.Message)
				}
			}
			if len(h.tm.effective) != tt.poolsAfter {
				t.Errorf("allocator holds %d pools, want %d", len(h.tm.effective), tt.poolsAfter)
			}
			if got := value(t, h.c.metrics.invalidPools); got != 1 {
				t.Errorf("leaselb_controller_invalid_pools = %v, want 1", got)
			}
			// A new Service never gets an address of a rejected version.
			h.create(svc("new"))
			for _, ip := range h.ips(t, "new") {
				if ip == tt.keep[0] {
					t.Errorf("new Service got %s, which web holds", ip)
				}
			}
		})
	}
}

func TestFixedPoolIsUsedAgain(t *testing.T) {
	h := newHarness(t, []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), advert("l2")})
	h.create(svc("web"))
	h.editPool("lan", "not-an-address")
	h.editPool("lan", "192.0.2.10-192.0.2.30")
	h.wantIPs("web", "192.0.2.10")
	if c := condition(h.pool(t, "lan").Status.Conditions, ConditionValid); c.Status != metav1.ConditionTrue {
		t.Errorf("Valid = %s after the fix, want True", c.Status)
	}
	if st := h.pool(t, "lan").Status; st.AvailableIPv4 != 20 {
		t.Errorf("availableIPv4 = %d, want 20 (the fixed spec is in use)", st.AvailableIPv4)
	}
}

func TestBadRequests(t *testing.T) {
	tests := []struct {
		name  string
		svc   *corev1.Service
		parts []string // of the AllocationFailed message
		fix   svcMod
		want  string // IP after fix
	}{
		{"not an IP", svc("x", lbIP("192.0.2.300")), []string{"192.0.2.300"}, lbIP("192.0.2.15"), "192.0.2.15"},
		{"in no pool", svc("x", lbIP("203.0.113.9")), []string{"203.0.113.9", "no pool"}, lbIP(""), "192.0.2.10"},
		{"unknown pool", svc("x", anno(v1alpha1.AnnotationAddressPool, "nope")), []string{`"nope"`}, anno(v1alpha1.AnnotationAddressPool, "lan"), "192.0.2.10"},
		{"annotation and spec disagree", svc("x", lbIP("192.0.2.11"), anno(v1alpha1.AnnotationLoadBalancerIPs, "192.0.2.12")),
			[]string{"spec.loadBalancerIP 192.0.2.11", "remove spec.loadBalancerIP"}, lbIP(""), "192.0.2.12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), advert("l2")})
			h.create(tt.svc)
			h.wantIPs("x")
			h.wantEvent("x", ReasonAllocationFailed, 1, tt.parts...)
			// Retries with the same result stay quiet.
			h.editPool("lan", "192.0.2.10-192.0.2.21")
			h.tm.enqueueOurs()
			h.settle()
			h.wantEvent("x", ReasonAllocationFailed, 1)
			if got := value(t, h.c.metrics.pending); got != 1 {
				t.Errorf("leaselb_controller_services_pending = %v, want 1", got)
			}
			h.editService("x", tt.fix)
			h.wantIPs("x", tt.want)
			h.wantEvent("x", ReasonIPAllocated, 1)
			if got := value(t, h.c.metrics.pending); got != 0 {
				t.Errorf("leaselb_controller_services_pending = %v after the fix, want 0", got)
			}
		})
	}
}

func TestBadEditKeepsIP(t *testing.T) {
	// A Service that has an IP and then asks for a bad one keeps the IP it
	// has and is told why.
	h := newHarness(t, []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), advert("l2")})
	h.create(svc("x"))
	h.editService("x", lbIP("192.0.2.999"))
	h.wantIPs("x", "192.0.2.10")
	h.wantEvent("x", ReasonAllocationFailed, 1, "192.0.2.999")
	h.editService("x", lbIP("192.0.2.14"))
	h.wantIPs("x", "192.0.2.14")
	h.wantEvent("x", ReasonIPChanged, 1, "from 192.0.2.10 to 192.0.2.14", "requested")
}

func TestDeprecatedAnnotations(t *testing.T) {
	tests := []struct {
		name  string
		mods  []svcMod
		want  []string
		parts []string
	}{
		{"metallb.universe.tf IPs", []svcMod{anno("metallb.universe.tf/loadBalancerIPs", "192.0.2.13")}, []string{"192.0.2.13"},
			[]string{"metallb.universe.tf/loadBalancerIPs", "leaselb.io/loadBalancerIPs"}},
		{"metallb.io IPs", []svcMod{anno("metallb.io/loadBalancerIPs", "192.0.2.14")}, []string{"192.0.2.14"},
			[]string{"metallb.io/loadBalancerIPs", "leaselb.io/loadBalancerIPs"}},
		{"metallb.universe.tf pool", []svcMod{anno("metallb.universe.tf/address-pool", "dmz")}, []string{"198.51.100.0"},
			[]string{"leaselb.io/address-pool"}},
		{"metallb.io pool", []svcMod{anno("metallb.io/address-pool", "dmz")}, []string{"198.51.100.0"},
			[]string{"leaselb.io/address-pool"}},
		{"both forms: ours wins", []svcMod{anno("metallb.io/loadBalancerIPs", "192.0.2.14"), anno(v1alpha1.AnnotationLoadBalancerIPs, "192.0.2.15")},
			[]string{"192.0.2.15"}, []string{"ignored", "remove metallb.io/loadBalancerIPs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), pool("dmz", 1, "198.51.100.0/30"), advert("l2")})
			h.create(svc("x", tt.mods...))
			h.wantIPs("x", tt.want...)
			h.wantEvent("x", ReasonDeprecatedAnnotation, 1, tt.parts...)
			h.tm.enqueueOurs()
			h.settle()
			h.wantEvent("x", ReasonDeprecatedAnnotation, 1) // once, not per reconcile
		})
	}
}

func TestStatusConditions(t *testing.T) {
	sel := &v1alpha1.L2Advertisement{
		ObjectMeta: metav1.ObjectMeta{Name: "by-label", Namespace: ns},
		Spec:       v1alpha1.L2AdvertisementSpec{IPAddressPoolSelectors: []v1alpha1.LabelSelector{{MatchLabels: map[string]string{"tier": "lan"}}}},
	}
	labelled := pool("lan", 0, "192.0.2.10-192.0.2.20")
	labelled.Labels = map[string]string{"tier": "lan"}
	tests := []struct {
		name       string
		objs       []runtime.Object
		advertised metav1.ConditionStatus
		advParts   []string
		adValid    map[string]string // advertisement -> reason of its Valid condition
	}{
		{"no advertisement", []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20")}, metav1.ConditionFalse,
			[]string{"not announced", `"lan"`}, nil},
		{"advertisement for every pool", []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), advert("all")}, metav1.ConditionTrue,
			[]string{"all"}, map[string]string{"all": ReasonValid}},
		{"advertisement naming the pool", []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), advert("named", "lan")}, metav1.ConditionTrue,
			[]string{"named"}, map[string]string{"named": ReasonValid}},
		{"advertisement by label", []runtime.Object{labelled, sel}, metav1.ConditionTrue, []string{"by-label"}, map[string]string{"by-label": ReasonValid}},
		{"advertisement naming another pool only", []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), advert("typo", "lann")}, metav1.ConditionFalse,
			nil, map[string]string{"typo": ReasonUnknownPool}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.objs)
			h.create(svc("x"))
			st := h.pool(t, "lan").Status
			if st.AssignedIPv4 != 1 || st.AvailableIPv4 != 10 || st.AssignedIPv6 != 0 || st.AvailableIPv6 != 0 {
				t.Errorf("counts = %+v, want 1 assigned, 10 available IPv4", st)
			}
			adv := condition(st.Conditions, ConditionAdvertised)
			if adv.Status != tt.advertised {
				t.Errorf("Advertised = %s (%s), want %s", adv.Status, adv.Message, tt.advertised)
			}
			for _, p := range tt.advParts {
				if !strings.Contains(adv.Message, p) {
					t.Errorf("Advertised message %q does not contain %q", adv.Message, p)
				}
			}
			for name, reason := range tt.adValid {
				ad, err := h.lb.LeaselbV1alpha1().L2Advertisements(ns).Get(context.Background(), name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if c := condition(ad.Status.Conditions, ConditionValid); c.Reason != reason {
					t.Errorf("advertisement %s Valid reason = %q (%s), want %q", name, c.Reason, c.Message, reason)
				}
			}
			// Status is written only when it changes: another full pass
			// writes nothing.
			before := h.allWrites()
			h.tm.queue.Add(item{kind: kindPools})
			h.tm.queue.Add(item{kind: kindStatus})
			h.settle()
			if after := h.allWrites(); after != before {
				t.Errorf("an idle pass wrote %d objects", after-before)
			}
		})
	}
}

func TestUnknownPoolResolves(t *testing.T) {
	h := newHarness(t, []runtime.Object{advert("l2", "later")})
	get := func() metav1.Condition {
		ad, err := h.lb.LeaselbV1alpha1().L2Advertisements(ns).Get(context.Background(), "l2", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return condition(ad.Status.Conditions, ConditionValid)
	}
	if c := get(); c.Status != metav1.ConditionFalse || c.Reason != ReasonUnknownPool || !strings.Contains(c.Message, `later`) {
		t.Errorf("Valid = %+v, want False/UnknownPool naming the pool", c)
	}
	h.create(pool("later", 0, "192.0.2.0/28"))
	if c := get(); c.Status != metav1.ConditionTrue {
		t.Errorf("Valid = %+v after the pool was created, want True", c)
	}
	if c := condition(h.pool(t, "later").Status.Conditions, ConditionAdvertised); c.Status != metav1.ConditionTrue {
		t.Errorf("pool Advertised = %+v, want True", c)
	}
}

func TestHugePoolCountsSaturate(t *testing.T) {
	h := newHarness(t, []runtime.Object{pool("v6", 0, "2001:db8::/32"), advert("l2")})
	h.create(svc("x", func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} }))
	h.wantIPs("x", "2001:db8::")
	st := h.pool(t, "v6").Status
	if st.AssignedIPv6 != 1 || st.AvailableIPv6 != math.MaxInt64 {
		t.Errorf("IPv6 counts = %d assigned, %d available; want 1, MaxInt64", st.AssignedIPv6, st.AvailableIPv6)
	}
	if got := value(t, h.c.metrics.inUse.WithLabelValues("v6", "ipv6")); got != 1 {
		t.Errorf("leaselb_allocator_addresses_in_use{pool=v6,family=ipv6} = %v, want 1", got)
	}
	if got := value(t, h.c.metrics.total.WithLabelValues("v6", "ipv6")); got != math.MaxUint64 {
		t.Errorf("leaselb_allocator_addresses_total{pool=v6,family=ipv6} = %v, want 2^64 (saturated)", got)
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), advert("l2")})
	h.create(svc("a"))
	h.create(svc("b", lbIP("198.51.100.1")))
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"addresses_total{lan,ipv4}", value(t, h.c.metrics.total.WithLabelValues("lan", "ipv4")), 11},
		{"addresses_in_use{lan,ipv4}", value(t, h.c.metrics.inUse.WithLabelValues("lan", "ipv4")), 1},
		{"allocation_errors_total{not_in_pool}", value(t, h.c.metrics.errors.WithLabelValues("not_in_pool")), 1},
		{"services_pending", value(t, h.c.metrics.pending), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := count(h.c.metrics.duration); n == 0 {
		t.Error("no reconcile duration observed")
	}
	h.deletePool("lan")
	if n := count(h.c.metrics.total); n != 0 {
		t.Errorf("%d addresses_total series after the pool was deleted, want 0", n)
	}
}

func TestNamespaceLabelsSelectPool(t *testing.T) {
	team := pool("team", 0, "192.0.2.10-192.0.2.20")
	team.Spec.ServiceAllocation = &v1alpha1.ServiceAllocation{
		NamespaceSelectors: []v1alpha1.LabelSelector{{MatchLabels: map[string]string{"team": "a"}}},
	}
	h := newHarness(t, []runtime.Object{team, advert("l2")})
	h.create(svc("x"))
	h.wantIPs("x")
	h.wantEvent("x", ReasonAllocationFailed, 1)
	nsObj, err := h.kube.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsObj.Labels = map[string]string{"team": "a"}
	if _, err := h.kube.CoreV1().Namespaces().Update(context.Background(), nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.settle()
	h.wantIPs("x", "192.0.2.10")
}

func TestPreferDualStackGetsSecondFamily(t *testing.T) {
	h := newHarness(t, []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), advert("l2")})
	h.create(svc("x", func(s *corev1.Service) {
		p := corev1.IPFamilyPolicyPreferDualStack
		s.Spec.IPFamilyPolicy = &p
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	}))
	h.wantIPs("x", "192.0.2.10")
	h.editPool("lan", "192.0.2.10-192.0.2.20", "2001:db8::10-2001:db8::20")
	h.wantIPs("x", "192.0.2.10", "2001:db8::10")
	h.wantEvent("x", ReasonIPChanged, 0)
	h.wantEvent("x", ReasonIPAllocated, 2, "192.0.2.10")
}

// TestAcceptPools checks the pure acceptance step on its own: oldest first,
// a rejection that frees another pool, and a bad edit that keeps the last
// good version.
func TestAcceptPools(t *testing.T) {
	lan, late, later := pool("lan", 0, "192.0.2.10-192.0.2.20"), pool("late", 1, "192.0.2.15-192.0.2.30"), pool("later", 2, "192.0.2.25-192.0.2.40")
	accepted, problems, rejected := acceptPools([]*v1alpha1.IPAddressPool{lan, late, later}, nil, nil)
	// late overlaps lan and is rejected, which leaves later free.
	if got := slices.Sorted(maps.Keys(accepted)); !slices.Equal(got, []string{"lan", "later"}) {
		t.Errorf("accepted %v, want [lan later]", got)
	}
	if pr := problems["late"]; pr.reason != ReasonOverlap || len(problems) != 1 {
		t.Errorf("problems %v, want late: %s", problems, ReasonOverlap)
	}
	if rejected["late"] == nil || len(rejected) != 1 {
		t.Errorf("rejected %v, want late's parsed version", rejected)
	}

	// An edit to garbage: nothing accepted, the problem says the previous
	// version stays; an unchanged pool is not looked at again.
	held, _ := allocator.NewPool(allocator.PoolSpec{Name: "lan", Addresses: []string{"192.0.2.10-192.0.2.20"}})
	bad := pool("lan", 0, "192.0.2.20-192.0.2.10x")
	accepted, problems, _ = acceptPools([]*v1alpha1.IPAddressPool{bad}, map[string]*allocator.Pool{"lan": held},
		map[string]v1alpha1.IPAddressPoolSpec{"lan": lan.Spec})
	if len(accepted) != 0 || problems["lan"].reason != ReasonInvalidAddresses || !strings.Contains(problems["lan"].message, "previous addresses stay in use") {
		t.Errorf("accepted %v, problems %v; want lan rejected, previous version kept", accepted, problems)
	}
	accepted, problems, _ = acceptPools([]*v1alpha1.IPAddressPool{lan}, map[string]*allocator.Pool{"lan": held},
		map[string]v1alpha1.IPAddressPoolSpec{"lan": lan.Spec})
	if len(accepted) != 0 || len(problems) != 0 {
		t.Errorf("unchanged pool: accepted %v, problems %v; want neither", accepted, problems)
	}
}
