package speaker

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/leaselb/leaselb/api/v1alpha1"
)

// GroupPrefix starts every group (and VIP lease) name.
const GroupPrefix = "vip-"

// A Group is an announcement group: the IPs of one Service plus every
// Service sharing one of those IPs, transitively. One node announces all of
// a group's IPs, so a dual-stack Service and the Services sharing an IP never
// end up split over two nodes.
type Group struct {
	// Name is the group's and its VIP lease's name: GroupName of the lowest IP.
	Name string
	// IPs are the group's IPs, sorted (IPv4 before IPv6).
	IPs []netip.Addr
	// Services are the group's Services, sorted by namespace and name.
	Services []*corev1.Service
}

// GroupName returns the name of the group whose lowest IP is ip: "vip-"
// followed by the canonical form of ip with ':' replaced by '-' (Lease names
// may not contain ':'), e.g. vip-192.0.2.10 or vip-2001-db8--10.
func GroupName(ip netip.Addr) string {
	return GroupPrefix + strings.ReplaceAll(ip.Unmap().WithZone("").String(), ":", "-")
}

// Ignored is a LoadBalancer Service that forms no group, and why.
type Ignored struct {
	Service *corev1.Service
	Reason  Reason
}

// ServiceIPs returns the valid IPs of s's status.loadBalancer.ingress,
// sorted and without duplicates. Hostname-only entries are not ours to
// announce and are skipped.
func ServiceIPs(s *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, in := range s.Status.LoadBalancer.Ingress {
		ip, err := netip.ParseAddr(in.IP)
		if err != nil {
			continue
		}
		ip = ip.Unmap().WithZone("")
		if ip.IsUnspecified() {
			continue
		}
		out = append(out, ip)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// Groups computes the announcement groups of services: the Services that are
// ours and have an IP, joined into one group whenever they share an IP
// (union-find over IPs). Services of type LoadBalancer that form no group are
// returned as Ignored with the reason (notOurClass, noIP); other types are
// silently skipped. The result does not depend on the
// order of services. Groups are sorted by their lowest IP.
func Groups(services []*corev1.Service, requireClass bool) ([]Group, []Ignored) {
	var ignored []Ignored
	type member struct {
		svc *corev1.Service
		ips []netip.Addr
	}
	var members []member
	for _, s := range services {
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		if !v1alpha1.Serves(s, requireClass) {
			ignored = append(ignored, Ignored{s, ReasonNotOurClass})
			continue
		}
		ips := ServiceIPs(s)
		if len(ips) == 0 {
			ignored = append(ignored, Ignored{s, ReasonNoIP})
			continue
		}
		members = append(members, member{s, ips})
	}

	// Union-find over IPs: every Service links its IPs together.
	parent := map[netip.Addr]netip.Addr{}
	var find func(netip.Addr) netip.Addr
	find = func(a netip.Addr) netip.Addr {
		p, ok := parent[a]
		if !ok || p == a {
			parent[a] = a
			return a
		}
		r := find(p)
		parent[a] = r
		return r
	}
	union := func(a, b netip.Addr) {
		ra, rb := find(a), find(b)
		if ra == rb {
			return
		}
		// The lower IP becomes the root, so the root is the group's name.
		if rb.Less(ra) {
			ra, rb = rb, ra
		}
		parent[rb] = ra
	}
	for _, m := range members {
		for _, ip := range m.ips[1:] {
			union(m.ips[0], ip)
		}
		find(m.ips[0])
	}

	byRoot := map[netip.Addr]*Group{}
	for ip := range parent {
		r := find(ip)
		g := byRoot[r]
		if g == nil {
			g = &Group{Name: GroupName(r)}
			byRoot[r] = g
		}
		g.IPs = append(g.IPs, ip)
	}
	for _, m := range members {
		g := byRoot[find(m.ips[0])]
		g.Services = append(g.Services, m.svc)
	}
	out := make([]Group, 0, len(byRoot))
	for _, g := range byRoot {
		slices.SortFunc(g.IPs, netip.Addr.Compare)
		slices.SortFunc(g.Services, compareServices)
		g.Services = slices.CompactFunc(g.Services, func(a, b *corev1.Service) bool { return compareServices(a, b) == 0 })
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int { return a.IPs[0].Compare(b.IPs[0]) })
	slices.SortFunc(ignored, func(a, b Ignored) int { return compareServices(a.Service, b.Service) })
	return out, ignored
}

func compareServices(a, b *corev1.Service) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// serviceKey is namespace/name.
func serviceKey(s *corev1.Service) string { return s.Namespace + "/" + s.Name }
