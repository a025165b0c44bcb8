package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// metallbStatus is a Service status as MetalLB writes it: the IP, without
// the ipMode leaselb sets.
func metallbStatus(ips ...string) svcMod {
	return func(s *corev1.Service) {
		for _, ip := range ips {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
	}
}

// TestAdoptsMetalLBAssignments is the migration from MetalLB: Services
// whose status MetalLB wrote, with MetalLB's annotations, keep their IPs
// when leaselb's controller starts on pools that hold those IPs, as on a
// restart. Nothing is moved and no IPChanged Event is sent; the status may
// be rewritten once, with the same IPs, to add the ipMode.
func TestAdoptsMetalLBAssignments(t *testing.T) {
	shared := anno("metallb.universe.tf/allow-shared-ip", "dns")
	h := newHarness(t, []runtime.Object{
		pool("lan", 0, "192.0.2.10-192.0.2.20", "2001:db8::10-2001:db8::20"),
		pool("dmz", 1, "198.51.100.0/29"),
		advert("l2"),
		// Not the lowest free address: adoption, not a fresh allocation.
		svc("web", created(1), metallbStatus("192.0.2.17")),
		svc("dns-tcp", created(2), shared, ports(53), metallbStatus("192.0.2.15")),
		svc("dns-udp", created(3), shared, ports(5353), metallbStatus("192.0.2.15")),
		svc("fixed", created(4), anno("metallb.io/loadBalancerIPs", "192.0.2.19"), metallbStatus("192.0.2.19")),
		svc("in-dmz", created(5), anno("metallb.universe.tf/address-pool", "dmz"), metallbStatus("198.51.100.3")),
		svc("dual", created(6), dualStack(), metallbStatus("192.0.2.12", "2001:db8::14")),
	})
	want := map[string][]string{
		"web": {"192.0.2.17"}, "dns-tcp": {"192.0.2.15"}, "dns-udp": {"192.0.2.15"}, "fixed": {"192.0.2.19"},
		"in-dmz": {"198.51.100.3"}, "dual": {"192.0.2.12", "2001:db8::14"},
	}
	for name, ips := range want {
		h.wantIPs(name, ips...)
		h.wantEvent(name, ReasonIPChanged, 0)
		if n := h.statusWrites(name); n > 1 {
			t.Errorf("Service %s: %d status writes, want at most one (adding ipMode)", name, n)
		}
	}
	// A new Service gets the lowest address no adopted Service holds.
	h.create(svc("new", created(7), anno("leaselb.io/address-pool", "lan")))
	h.wantIPs("new", "192.0.2.10")
}
