package controller

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/leaselb/leaselb/api/v1alpha1"
)

func TestAllocation(t *testing.T) {
	lan := pool("lan", 0, "192.0.2.10-192.0.2.20")
	tests := []struct {
		name    string
		objs    []runtime.Object
		svc     *corev1.Service
		want    []string
		wantMsg []string // parts of the IPAllocated Event
	}{
		{"lowest free", []runtime.Object{lan}, svc("web"), []string{"192.0.2.10"}, []string{"192.0.2.10", `pool "lan"`}},
		{"spec.loadBalancerIP", []runtime.Object{lan}, svc("web", lbIP("192.0.2.15")), []string{"192.0.2.15"}, nil},
		{"loadBalancerIPs annotation", []runtime.Object{lan}, svc("web", anno(v1alpha1.AnnotationLoadBalancerIPs, "192.0.2.17")), []string{"192.0.2.17"}, nil},
		{"address-pool annotation", []runtime.Object{lan, pool("dmz", 1, "198.51.100.0/30")},
			svc("web", anno(v1alpha1.AnnotationAddressPool, "dmz")), []string{"198.51.100.0"}, []string{`pool "dmz"`}},
		{"walkthrough: fixed IP, two ports", []runtime.Object{pool("first-pool", 0, "192.168.219.190-192.168.219.199")},
			svc("nginx", ports(8080, 8081), lbIP("192.168.219.195")), []string{"192.168.219.195"}, nil},
		{"walkthrough: automatic IP", []runtime.Object{pool("first-pool", 0, "192.168.219.190-192.168.219.199")},
			svc("nginx", ports(8080, 8081)), []string{"192.168.219.190"}, nil},
		{"dual-stack", []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20", "2001:db8::10-2001:db8::20")},
			svc("web", dualStack()), []string{"192.0.2.10", "2001:db8::10"}, []string{"192.0.2.10, 2001:db8::10"}},
		{"class leaselb.io/l2", []runtime.Object{lan}, svc("web", class(v1alpha1.LoadBalancerClass)), []string{"192.0.2.10"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, append(tt.objs, advert("l2")))
			h.create(tt.svc)
			h.wantIPs(tt.svc.Name, tt.want...)
			h.wantEvent(tt.svc.Name, ReasonIPAllocated, 1, tt.wantMsg...)
			s, _ := h.kube.CoreV1().Services("default").Get(context.Background(), tt.svc.Name, metav1.GetOptions{})
			for _, in := range s.Status.LoadBalancer.Ingress {
				if in.IPMode == nil || *in.IPMode != corev1.LoadBalancerIPModeVIP || in.Hostname != "" {
					t.Errorf("ingress %+v: want ip with ipMode VIP only", in)
				}
			}
			// Nothing more to do: settling again writes nothing.
			before := h.allWrites()
			h.tm.enqueueOurs()
			h.tm.queue.Add(item{kind: kindPools})
			h.settle()
			if after := h.allWrites(); after != before {
				t.Errorf("a second pass wrote %d more objects", after-before)
			}
		})
	}
}

func TestDeleteFreesIP(t *testing.T) {
	h := newHarness(t, []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.11"), advert("l2")})
	h.create(svc("a"))
	h.create(svc("b"))
	h.create(svc("c")) // the pool is full
	h.wantIPs("c")
	h.wantEvent("c", ReasonAllocationFailed, 1, `"lan"`)
	h.deleteService("a")
	h.wantIPs("c", "192.0.2.10") // the waiting Service gets the freed IP
	if st := h.pool(t, "lan").Status; st.AssignedIPv4 != 2 || st.AvailableIPv4 != 0 {
		t.Errorf("pool status = %d assigned, %d available; want 2, 0", st.AssignedIPv4, st.AvailableIPv4)
	}
}

func TestSharing(t *testing.T) {
	key := anno(v1alpha1.AnnotationAllowSharedIP, "web")
	tests := []struct {
		name       string
		a, b       *corev1.Service
		sameIP     bool
		failB      string // part of b's AllocationFailed message, if it fails
		wantShared bool
	}{
		{"same key, other ports", svc("a", key, ports(80)), svc("b", key, ports(443)), true, "", true},
		{"same key, same port", svc("a", key, ports(80)), svc("b", key, ports(80), lbIP("192.0.2.10")), false, "80/TCP", false},
		{"other key", svc("a", key, ports(80)), svc("b", anno(v1alpha1.AnnotationAllowSharedIP, "db"), ports(443)), false, "", false},
		{"no key", svc("a", ports(80)), svc("b", ports(443)), false, "", false},
		{"metallb key", svc("a", key, ports(80)), svc("b", anno("metallb.universe.tf/allow-shared-ip", "web"), ports(443)), true, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []runtime.Object{pool("lan", 0, "192.0.2.10-192.0.2.20"), advert("l2")})
			h.create(tt.a)
			h.create(tt.b)
			ipA, ipB := h.ips(t, "a"), h.ips(t, "b")
			if tt.failB != "" {
				h.wantIPs("b")
				h.wantEvent("b", ReasonAllocationFailed, 1, tt.failB)
				return
			}
			if len(ipA) != 1 || len(ipB) != 1 {
				t.Fatalf("IPs a=%v b=%v, want one each", ipA, ipB)
			}
			if (ipA[0] == ipB[0]) != tt.sameIP {
				t.Errorf("a=%v b=%v, same IP = %v, want %v", ipA, ipB, ipA[0] == ipB[0], tt.sameIP)
			}
			if tt.wantShared {
				// Deleting one sharer keeps the IP with the other.
				h.deleteService("a")
				h.wantIPs("b", ipB...)
				if st := h.pool(t, "lan").Status; st.AssignedIPv4 != 1 {
					t.Errorf("assignedIPv4 = %d after one sharer left, want 1", st.AssignedIPv4)
				}
			}
		})
	}
}

func TestPoolEdits(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(h *harness)
		want      string
		changed   bool
		whyChange string
		poolGone  bool
	}{
		{"widened", func(h *harness) { h.editPool("lan", "192.0.2.0/24") }, "192.0.2.12", false, "", false},
		{"narrowed but still covering", func(h *harness) { h.editPool("lan", "192.0.2.12/32") }, "192.0.2.12", false, "", false},
		{"avoidBuggyIPs toggled", func(h *harness) {
			p := h.pool(h.t, "lan")
			p.Spec.AvoidBuggyIPs = true
			_, _ = h.lb.LeaselbV1alpha1().IPAddressPools(ns).Update(context.Background(), p, metav1.UpdateOptions{})
			h.settle()
		}, "192.0.2.12", false, "", false},
		{"autoAssign turned off", func(h *harness) {
			p := h.pool(h.t, "lan")
			off := false
			p.Spec.AutoAssign = &off
			_, _ = h.lb.LeaselbV1alpha1().IPAddressPools(ns).Update(context.Background(), p, metav1.UpdateOptions{})
			h.settle()
		}, "192.0.2.12", false, "", false},
		{"IP dropped", func(h *harness) { h.editPool("lan", "192.0.2.30-192.0.2.40") }, "192.0.2.30", true, `pool "lan" was edited and no longer contains 192.0.2.12`, false},
		{"pool deleted, another pool left", func(h *harness) {
			h.create(pool("spare", 5, "198.51.100.1-198.51.100.5"))
			h.deletePool("lan")
		}, "198.51.100.1", true, `pool "lan" was deleted`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []runtime.Object{pool("lan", 0, "192.0.2.12-192.0.2.20"), advert("l2")})
			h.create(svc("web"))
			h.wantIPs("web", "192.0.2.12")
			writes := h.statusWrites("web")
			tt.edit(h)
			h.wantIPs("web", tt.want)
			if !tt.poolGone {
				if c := condition(h.pool(t, "lan").Status.Conditions, ConditionValid); c.Status != metav1.ConditionTrue {
					t.Errorf("pool Valid = %s (%s), want True: the edit must be applied, not rejected", c.Status, c.Message)
				}
			}

			if !tt.changed {
				h.wantEvent("web", ReasonIPChanged, 0)
				if n := h.statusWrites("web"); n != writes {
					t.Errorf("%d Service status writes after an edit that still covers the IP, want 0", n-writes)
				}
				return
			}
			h.wantEvent("web", ReasonIPChanged, 1, "from 192.0.2.12 to "+tt.want, tt.whyChange)
		})
	}
}
