package allocator

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

func TestAllocate(t *testing.T) {
	tcp := func(ports ...int32) []Port {
		var out []Port
		for _, p := range ports {
			out = append(out, Port{Protocol: "TCP", Port: p})
		}
		return out
	}
	restricted := func(name string, prio int32, addr string) PoolSpec {
		s := auto(name, addr)
		s.HasAllocation = true
		s.Priority = prio
		return s
	}
	withNS := func(s PoolSpec, ns ...string) PoolSpec { s.Namespaces = ns; return s }
	withNSSel := func(s PoolSpec, sels ...labels.Selector) PoolSpec { s.NamespaceSelectors = sels; return s }
	withSvcSel := func(s PoolSpec, sels ...labels.Selector) PoolSpec { s.ServiceSelectors = sels; return s }
	manual := func(name string, addrs ...string) PoolSpec { return PoolSpec{Name: name, Addresses: addrs} }
	buggy := func(s PoolSpec) PoolSpec { s.AvoidBuggyIPs = true; return s }
	dual := []Family{IPv4, IPv6}
	v6first := []Family{IPv6, IPv4}
	web := Request{Service: "ns/web", Namespace: "ns"}
	with := func(r Request, f func(*Request)) Request { f(&r); return r }
	svc := func(name string, f func(*Request)) Request {
		r := Request{Service: "ns/" + name, Namespace: "ns"}
		if f != nil {
			f(&r)
		}
		return r
	}
	lan := auto("lan", "192.0.2.10-192.0.2.12")
	lan6 := auto("lan", "192.0.2.10-192.0.2.12", "2001:db8::/126")

	tests := []struct {
		name     string
		pools    []PoolSpec
		before   []Request // allocated first; must succeed
		req      Request
		wantIPs  []string
		wantPool string
		wantErr  error
		wantMsg  string
	}{
		// Which IP.
		{name: "lowest free", pools: []PoolSpec{lan}, req: web, wantIPs: []string{"192.0.2.10"}, wantPool: "lan"},
		{name: "lowest free after others", pools: []PoolSpec{lan}, before: []Request{svc("a", nil), svc("b", nil)}, req: web, wantIPs: []string{"192.0.2.12"}},
		{name: "gap is reused", pools: []PoolSpec{lan}, before: []Request{svc("a", func(r *Request) { r.RequestedIPs = []string{"192.0.2.11"} })}, req: web, wantIPs: []string{"192.0.2.10"}},
		{name: "full pool", pools: []PoolSpec{lan}, before: []Request{svc("a", nil), svc("b", nil), svc("c", nil)}, req: web,
			wantErr: ErrNoFreeIP, wantMsg: `service ns/web: pool "lan" has no free IPv4 address`},
		{name: "full ipv6 pool", pools: []PoolSpec{auto("lan", "2001:db8::/127")},
			before: []Request{svc("a", func(r *Request) { r.Families = []Family{IPv6} }), svc("b", func(r *Request) { r.Families = []Family{IPv6} })},
			req:    with(web, func(r *Request) { r.Families = []Family{IPv6} }), wantErr: ErrNoFreeIP, wantMsg: `service ns/web: pool "lan" has no free IPv6 address`},
		{name: "ipv6 /64 lowest", pools: []PoolSpec{auto("big", "2001:db8::/64")},
			before: []Request{svc("a", func(r *Request) { r.Families = []Family{IPv6} }), svc("b", func(r *Request) { r.Families = []Family{IPv6} })},
			req:    with(web, func(r *Request) { r.Families = []Family{IPv6} }), wantIPs: []string{"2001:db8::2"}},
		{name: "avoid buggy skips .255 and .0", pools: []PoolSpec{buggy(auto("lan", "192.0.2.255-192.0.3.1"))}, req: web, wantIPs: []string{"192.0.3.1"}},
		{name: "avoid buggy leaves ipv6 alone", pools: []PoolSpec{buggy(auto("lan", "2001:db8::/126"))}, req: with(web, func(r *Request) { r.Families = []Family{IPv6} }), wantIPs: []string{"2001:db8::"}},
		{name: "requested buggy IP", pools: []PoolSpec{buggy(auto("lan", "192.0.2.0/24"))}, req: with(web, func(r *Request) { r.RequestedIPs = []string{"192.0.2.255"} }),
			wantErr: ErrNotInPool, wantMsg: `192.0.2.255 is in pool "lan" but skipped by its avoidBuggyIPs`},

		// Which pool.
		{name: "no pools", req: web, wantErr: ErrNoPool, wantMsg: "service ns/web: no pool assigns addresses to it automatically"},
		{name: "pools by name", pools: []PoolSpec{auto("b", "192.0.2.0/24"), auto("a", "198.51.100.0/24")}, req: web, wantIPs: []string{"198.51.100.0"}, wantPool: "a"},
		{name: "next pool when first is full", pools: []PoolSpec{auto("a", "192.0.2.1/32"), auto("b", "198.51.100.0/24")}, before: []Request{svc("x", nil)}, req: web, wantIPs: []string{"198.51.100.0"}, wantPool: "b"},
		{name: "all pools full", pools: []PoolSpec{auto("a", "192.0.2.1/32"), auto("b", "198.51.100.1/32")}, before: []Request{svc("x", nil), svc("y", nil)}, req: web,
			wantErr: ErrNoFreeIP, wantMsg: `service ns/web: pools "a", "b" have no free IPv4 address`},
		{name: "autoAssign false not used", pools: []PoolSpec{manual("m", "192.0.2.0/24")}, req: web, wantErr: ErrNoPool},
		{name: "autoAssign false skipped for auto pool", pools: []PoolSpec{manual("a", "192.0.2.0/24"), auto("b", "198.51.100.0/24")}, req: web, wantPool: "b", wantIPs: []string{"198.51.100.0"}},
		{name: "autoAssign false by name", pools: []PoolSpec{manual("m", "192.0.2.0/24"), auto("a", "198.51.100.0/24")}, req: with(web, func(r *Request) { r.Pool = "m" }), wantPool: "m", wantIPs: []string{"192.0.2.0"}},
		{name: "autoAssign false by IP", pools: []PoolSpec{manual("m", "192.0.2.0/24")}, req: with(web, func(r *Request) { r.RequestedIPs = []string{"192.0.2.9"} }), wantPool: "m", wantIPs: []string{"192.0.2.9"}},
		{name: "unknown pool", pools: []PoolSpec{lan}, req: with(web, func(r *Request) { r.Pool = "wan" }),
			wantErr: ErrUnknownPool, wantMsg: `service ns/web: pool "wan" named by the address-pool annotation does not exist`},
		{name: "named pool full", pools: []PoolSpec{auto("a", "192.0.2.1/32"), auto("b", "198.51.100.0/24")}, before: []Request{svc("x", nil)}, req: with(web, func(r *Request) { r.Pool = "a" }),
			wantErr: ErrNoFreeIP, wantMsg: `pool "a" has no free IPv4 address`},
		{name: "serviceAllocation match beats plain pool", pools: []PoolSpec{auto("a", "192.0.2.0/24"), withNS(restricted("z", 0, "198.51.100.0/24"), "ns")}, req: web, wantPool: "z"},
		{name: "serviceAllocation mismatch is skipped", pools: []PoolSpec{auto("a", "192.0.2.0/24"), withNS(restricted("z", 0, "198.51.100.0/24"), "other")}, req: web, wantPool: "a"},
		{name: "namespace from service key", pools: []PoolSpec{auto("a", "192.0.2.0/24"), withNS(restricted("z", 0, "198.51.100.0/24"), "ns")}, req: Request{Service: "ns/web"}, wantPool: "z"},
		{name: "only restricted pool, mismatch", pools: []PoolSpec{withNS(restricted("z", 0, "198.51.100.0/24"), "other")}, req: web, wantErr: ErrNoPool},
		{name: "lower priority value first", pools: []PoolSpec{withNS(restricted("p1", 10, "192.0.2.0/24"), "ns"), withNS(restricted("p2", 5, "198.51.100.0/24"), "ns")}, req: web, wantPool: "p2"},
		{name: "priority tie by name", pools: []PoolSpec{withNS(restricted("p2", 5, "192.0.2.0/24"), "ns"), withNS(restricted("p1", 5, "198.51.100.0/24"), "ns")}, req: web, wantPool: "p1"},
		{name: "restricted full falls back to plain", pools: []PoolSpec{auto("a", "192.0.2.0/24"), withNS(restricted("z", 0, "198.51.100.1/32"), "ns")}, before: []Request{svc("x", nil)}, req: web, wantPool: "a"},
		{name: "restricted autoAssign false not automatic", pools: []PoolSpec{auto("a", "192.0.2.0/24"), func() PoolSpec {
			s := withNS(restricted("z", 0, "198.51.100.0/24"), "ns")
			s.AutoAssign = false
			return s
		}()}, req: web, wantPool: "a"},
		{name: "namespace selector", pools: []PoolSpec{auto("a", "192.0.2.0/24"), withNSSel(restricted("z", 0, "198.51.100.0/24"), sel(t, "team=blue"))},
			req: with(web, func(r *Request) { r.NamespaceLabels = map[string]string{"team": "blue"} }), wantPool: "z"},
		{name: "namespace selector mismatch", pools: []PoolSpec{auto("a", "192.0.2.0/24"), withNSSel(restricted("z", 0, "198.51.100.0/24"), sel(t, "team=blue"))},
			req: with(web, func(r *Request) { r.NamespaceLabels = map[string]string{"team": "red"} }), wantPool: "a"},
		{name: "service selector", pools: []PoolSpec{auto("a", "192.0.2.0/24"), withSvcSel(restricted("z", 0, "198.51.100.0/24"), sel(t, "tier in (edge,front)"))},
			req: with(web, func(r *Request) { r.Labels = map[string]string{"tier": "front"} }), wantPool: "z"},
		{name: "any selector of a list", pools: []PoolSpec{auto("a", "192.0.2.0/24"), withSvcSel(restricted("z", 0, "198.51.100.0/24"), sel(t, "x=1"), sel(t, "tier=front"))},
			req: with(web, func(r *Request) { r.Labels = map[string]string{"tier": "front"} }), wantPool: "z"},
		{name: "every set list must match", pools: []PoolSpec{auto("a", "192.0.2.0/24"), withSvcSel(withNS(restricted("z", 0, "198.51.100.0/24"), "ns"), sel(t, "tier=front"))},
			req: with(web, func(r *Request) { r.Labels = map[string]string{"tier": "back"} }), wantPool: "a"},
		{name: "named restricted pool not selecting", pools: []PoolSpec{withNS(restricted("z", 0, "198.51.100.0/24"), "other")}, req: with(web, func(r *Request) { r.Pool = "z" }),
			wantErr: ErrNoPool, wantMsg: `service ns/web: pool "z" does not serve it`},
		{name: "requested IP in restricted pool not selecting", pools: []PoolSpec{withNS(restricted("z", 0, "198.51.100.0/24"), "other")}, req: with(web, func(r *Request) { r.RequestedIPs = []string{"198.51.100.5"} }),
			wantErr: ErrNoPool, wantMsg: `pool "z" does not serve it`},

		// Requested IPs.
		{name: "requested IP", pools: []PoolSpec{auto("lan", "192.168.219.190-192.168.219.199")}, req: with(web, func(r *Request) { r.RequestedIPs = []string{"192.168.219.195"} }), wantIPs: []string{"192.168.219.195"}, wantPool: "lan"},
		{name: "requested IP with spaces", pools: []PoolSpec{lan}, req: with(web, func(r *Request) { r.RequestedIPs = []string{" 192.0.2.11 "} }), wantIPs: []string{"192.0.2.11"}},
		{name: "requested not an IP", pools: []PoolSpec{lan}, req: with(web, func(r *Request) { r.RequestedIPs = []string{"192.168.1.300"} }),
			wantErr: ErrInvalid, wantMsg: "service ns/web: 192.168.1.300 is not an IP"},
		{name: "requested in no pool", pools: []PoolSpec{lan}, req: with(web, func(r *Request) { r.RequestedIPs = []string{"192.0.2.7"} }),
			wantErr: ErrNotInPool, wantMsg: "service ns/web: 192.0.2.7 is in no pool; add it to an IPAddressPool or drop spec.loadBalancerIP"},
		{name: "two of one family", pools: []PoolSpec{lan}, req: with(web, func(r *Request) {
			r.RequestedIPs = []string{"192.0.2.10", "192.0.2.11"}
			r.FamilyPolicy = PreferDualStack
		}),
			wantErr: ErrInvalid, wantMsg: "requests two IPv4 addresses (192.0.2.10 and 192.0.2.11); request at most one per family"},
		{name: "same IP twice", pools: []PoolSpec{lan}, req: with(web, func(r *Request) { r.RequestedIPs = []string{"192.0.2.10", "192.0.2.10"} }), wantErr: ErrInvalid, wantMsg: "requested twice"},
		{name: "requested IP and pool agree", pools: []PoolSpec{lan, auto("other", "198.51.100.0/24")}, req: with(web, func(r *Request) { r.RequestedIPs = []string{"192.0.2.11"}; r.Pool = "lan" }), wantIPs: []string{"192.0.2.11"}, wantPool: "lan"},
		{name: "requested IP outside named pool", pools: []PoolSpec{lan, auto("other", "198.51.100.0/24")}, req: with(web, func(r *Request) { r.RequestedIPs = []string{"198.51.100.1"}; r.Pool = "lan" }),
			wantErr: ErrNotInPool, wantMsg: `198.51.100.1 is in pool "other", not in pool "lan" named by the address-pool annotation`},
		{name: "requested dual-stack", pools: []PoolSpec{lan6}, req: with(web, func(r *Request) {
			r.RequestedIPs = []string{"192.0.2.11", "2001:db8::2"}
			r.Families = v6first
			r.FamilyPolicy = RequireDualStack
		}), wantIPs: []string{"2001:db8::2", "192.0.2.11"}},
		{name: "requested in two pools", pools: []PoolSpec{lan, auto("six", "2001:db8::/64")}, req: with(web, func(r *Request) {
			r.RequestedIPs = []string{"192.0.2.11", "2001:db8::2"}
			r.Families = dual
			r.FamilyPolicy = RequireDualStack
		}), wantErr: ErrInvalid, wantMsg: `are in different pools ("lan" and "six")`},
		{name: "requested IPv6 for IPv4 Service", pools: []PoolSpec{lan6}, req: with(web, func(r *Request) { r.RequestedIPs = []string{"2001:db8::1"}; r.Families = []Family{IPv4} }),
			wantErr: ErrInvalid, wantMsg: "2001:db8::1 is IPv6 but the Service's IP families are IPv4"},
		{name: "requested IPv6, families unknown", pools: []PoolSpec{lan6}, req: with(web, func(r *Request) { r.RequestedIPs = []string{"2001:db8::1"} }), wantIPs: []string{"2001:db8::1"}},
		{name: "single-stack requests two", pools: []PoolSpec{lan6}, req: with(web, func(r *Request) { r.RequestedIPs = []string{"192.0.2.10", "2001:db8::1"}; r.Families = dual }),
			wantErr: ErrInvalid, wantMsg: "requests 2 addresses but is single-stack"},
		{name: "require dual-stack requests one", pools: []PoolSpec{lan6}, req: with(web, func(r *Request) {
			r.RequestedIPs = []string{"192.0.2.10"}
			r.Families = dual
			r.FamilyPolicy = RequireDualStack
		}),
			wantErr: ErrInvalid, wantMsg: "requires dual-stack but requests only 192.0.2.10"},
		{name: "prefer dual-stack requests one", pools: []PoolSpec{lan6}, req: with(web, func(r *Request) {
			r.RequestedIPs = []string{"192.0.2.10"}
			r.Families = dual
			r.FamilyPolicy = PreferDualStack
		}),
			wantIPs: []string{"192.0.2.10"}},
		{name: "requested IP taken, no key", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) { r.RequestedIPs = []string{"192.0.2.10"} })},
			req: with(web, func(r *Request) { r.RequestedIPs = []string{"192.0.2.10"} }), wantErr: ErrSharing, wantMsg: "service ns/web: 192.0.2.10 is used by ns/other; give both Services the same allow-shared-ip key"},

		// Sharing.
		{name: "same key shares", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) { r.SharingKey = "web"; r.Ports = tcp(80) })},
			req: with(web, func(r *Request) { r.SharingKey = "web"; r.Ports = tcp(443) }), wantIPs: []string{"192.0.2.10"}},
		{name: "same key, requested", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) { r.SharingKey = "web"; r.Ports = tcp(80); r.RequestedIPs = []string{"192.0.2.11"} })},
			req: with(web, func(r *Request) { r.SharingKey = "web"; r.Ports = tcp(443); r.RequestedIPs = []string{"192.0.2.11"} }), wantIPs: []string{"192.0.2.11"}},
		{name: "key prefers its IP over a lower free one", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) { r.SharingKey = "web"; r.RequestedIPs = []string{"192.0.2.12"} })},
			req: with(web, func(r *Request) { r.SharingKey = "web" }), wantIPs: []string{"192.0.2.12"}},
		{name: "key skips its incompatible IP", pools: []PoolSpec{lan}, before: []Request{
			svc("a", func(r *Request) { r.SharingKey = "web"; r.Ports = tcp(80); r.RequestedIPs = []string{"192.0.2.10"} }),
			svc("b", func(r *Request) { r.SharingKey = "web"; r.Ports = tcp(443); r.RequestedIPs = []string{"192.0.2.12"} }),
		}, req: with(web, func(r *Request) { r.SharingKey = "web"; r.Ports = tcp(80) }), wantIPs: []string{"192.0.2.12"}},
		{name: "port clash", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) {
			r.SharingKey = "web"
			r.Ports = tcp(80, 443)
			r.RequestedIPs = []string{"192.0.2.10"}
		})},
			req:     with(web, func(r *Request) { r.SharingKey = "web"; r.Ports = tcp(80); r.RequestedIPs = []string{"192.0.2.10"} }),
			wantErr: ErrSharing, wantMsg: `service ns/web: key "web" is used by ns/other with port 80/TCP`},
		{name: "port clash, automatic, takes a new IP", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) { r.SharingKey = "web"; r.Ports = tcp(80) })},
			req: with(web, func(r *Request) { r.SharingKey = "web"; r.Ports = tcp(80) }), wantIPs: []string{"192.0.2.11"}},
		{name: "protocol defaults to TCP", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) {
			r.SharingKey = "k"
			r.Ports = []Port{{Port: 80}}
			r.RequestedIPs = []string{"192.0.2.10"}
		})},
			req: with(web, func(r *Request) { r.SharingKey = "k"; r.Ports = tcp(80); r.RequestedIPs = []string{"192.0.2.10"} }), wantErr: ErrSharing, wantMsg: "port 80/TCP"},
		{name: "same port, other protocol", pools: []PoolSpec{lan}, before: []Request{svc("dns-udp", func(r *Request) { r.SharingKey = "dns"; r.Ports = []Port{{"UDP", 53}} })},
			req: with(web, func(r *Request) { r.SharingKey = "dns"; r.Ports = tcp(53) }), wantIPs: []string{"192.0.2.10"}},
		{name: "other key", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) { r.SharingKey = "a"; r.RequestedIPs = []string{"192.0.2.10"} })},
			req: with(web, func(r *Request) { r.SharingKey = "b"; r.RequestedIPs = []string{"192.0.2.10"} }), wantErr: ErrSharing, wantMsg: `192.0.2.10 is used by ns/other with key "a", not "b"`},
		{name: "other key, automatic", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) { r.SharingKey = "a" })},
			req: with(web, func(r *Request) { r.SharingKey = "b" }), wantIPs: []string{"192.0.2.11"}},
		{name: "holder has no key", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) { r.RequestedIPs = []string{"192.0.2.10"} })},
			req: with(web, func(r *Request) { r.SharingKey = "k"; r.RequestedIPs = []string{"192.0.2.10"} }), wantErr: ErrSharing, wantMsg: "which does not allow sharing"},
		{name: "requester has no key", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) { r.SharingKey = "k"; r.RequestedIPs = []string{"192.0.2.10"} })},
			req: with(web, func(r *Request) { r.RequestedIPs = []string{"192.0.2.10"} }), wantErr: ErrSharing, wantMsg: `set allow-shared-ip to "k"`},
		{name: "traffic policy differs", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) { r.SharingKey = "k"; r.RequestedIPs = []string{"192.0.2.10"} })},
			req: with(web, func(r *Request) {
				r.SharingKey = "k"
				r.TrafficPolicyLocal = true
				r.RequestedIPs = []string{"192.0.2.10"}
			}),
			wantErr: ErrSharing, wantMsg: `key "k" is used by ns/other with externalTrafficPolicy Cluster`},
		{name: "traffic policy differs, automatic", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) { r.SharingKey = "k" })},
			req: with(web, func(r *Request) { r.SharingKey = "k"; r.TrafficPolicyLocal = true }), wantIPs: []string{"192.0.2.11"}},
		{name: "local, same selector", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) {
			r.SharingKey = "k"
			r.TrafficPolicyLocal = true
			r.Selector = map[string]string{"app": "web"}
			r.Ports = tcp(80)
		})}, req: with(web, func(r *Request) {
			r.SharingKey = "k"
			r.TrafficPolicyLocal = true
			r.Selector = map[string]string{"app": "web"}
			r.Ports = tcp(443)
		}), wantIPs: []string{"192.0.2.10"}},
		{name: "local, other selector", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) {
			r.SharingKey = "k"
			r.TrafficPolicyLocal = true
			r.Selector = map[string]string{"app": "web"}
			r.RequestedIPs = []string{"192.0.2.10"}
		})}, req: with(web, func(r *Request) {
			r.SharingKey = "k"
			r.TrafficPolicyLocal = true
			r.Selector = map[string]string{"app": "api"}
			r.RequestedIPs = []string{"192.0.2.10"}
		}), wantErr: ErrSharing, wantMsg: `key "k" is used by ns/other with another selector`},
		{name: "cluster, other selector shares", pools: []PoolSpec{lan}, before: []Request{svc("other", func(r *Request) { r.SharingKey = "k"; r.Selector = map[string]string{"app": "web"} })},
			req: with(web, func(r *Request) { r.SharingKey = "k"; r.Selector = map[string]string{"app": "api"} }), wantIPs: []string{"192.0.2.10"}},
		{name: "key IP in another pool not used", pools: []PoolSpec{lan, auto("zz", "198.51.100.0/24")},
			before: []Request{svc("other", func(r *Request) { r.SharingKey = "k"; r.RequestedIPs = []string{"198.51.100.7"} })},
			req:    with(web, func(r *Request) { r.SharingKey = "k" }), wantIPs: []string{"192.0.2.10"}, wantPool: "lan"},

		// Dual-stack.
		{name: "single-stack default IPv4", pools: []PoolSpec{lan6}, req: web, wantIPs: []string{"192.0.2.10"}},
		{name: "single-stack first family", pools: []PoolSpec{lan6}, req: with(web, func(r *Request) { r.Families = v6first; r.FamilyPolicy = SingleStack }), wantIPs: []string{"2001:db8::"}},
		{name: "require dual-stack", pools: []PoolSpec{lan6}, req: with(web, func(r *Request) { r.Families = v6first; r.FamilyPolicy = RequireDualStack }), wantIPs: []string{"2001:db8::", "192.0.2.10"}},
		{name: "require dual-stack, one family listed", pools: []PoolSpec{lan6}, req: with(web, func(r *Request) { r.Families = []Family{IPv4}; r.FamilyPolicy = RequireDualStack }), wantIPs: []string{"192.0.2.10", "2001:db8::"}},
		{name: "require dual-stack, IPv4-only pool", pools: []PoolSpec{lan}, req: with(web, func(r *Request) { r.Families = dual; r.FamilyPolicy = RequireDualStack }),
			wantErr: ErrNoPool, wantMsg: `service ns/web: pool "lan" has no IPv6 addresses but the Service needs IPv4 and IPv6`},
		{name: "require dual-stack skips single-family pool", pools: []PoolSpec{auto("a", "198.51.100.0/24"), auto("b", "192.0.2.0/24", "2001:db8::/64")},
			req: with(web, func(r *Request) { r.Families = dual; r.FamilyPolicy = RequireDualStack }), wantIPs: []string{"192.0.2.0", "2001:db8::"}, wantPool: "b"},
		{name: "require dual-stack, no pool has both", pools: []PoolSpec{auto("a", "198.51.100.0/24"), auto("b", "2001:db8::/64")},
			req: with(web, func(r *Request) { r.Families = dual; r.FamilyPolicy = RequireDualStack }), wantErr: ErrNoPool, wantMsg: `none of the pools "a", "b" offers IPv4 and IPv6 addresses`},
		{name: "require dual-stack, IPv6 full", pools: []PoolSpec{auto("lan", "192.0.2.0/24", "2001:db8::/128")}, before: []Request{svc("x", func(r *Request) { r.Families = []Family{IPv6} })},
			req: with(web, func(r *Request) { r.Families = dual; r.FamilyPolicy = RequireDualStack }), wantErr: ErrNoFreeIP, wantMsg: `pool "lan" has no free IPv6 address`},
		{name: "prefer dual-stack, both", pools: []PoolSpec{lan6}, req: with(web, func(r *Request) { r.Families = dual; r.FamilyPolicy = PreferDualStack }), wantIPs: []string{"192.0.2.10", "2001:db8::"}},
		{name: "prefer dual-stack, IPv4-only pool", pools: []PoolSpec{lan}, req: with(web, func(r *Request) { r.Families = dual; r.FamilyPolicy = PreferDualStack }), wantIPs: []string{"192.0.2.10"}},
		{name: "prefer dual-stack, IPv6-only pool", pools: []PoolSpec{auto("six", "2001:db8::/64")}, req: with(web, func(r *Request) { r.Families = dual; r.FamilyPolicy = PreferDualStack }), wantIPs: []string{"2001:db8::"}},
		{name: "prefer dual-stack, IPv6 full", pools: []PoolSpec{auto("lan", "192.0.2.0/24", "2001:db8::/128")}, before: []Request{svc("x", func(r *Request) { r.Families = []Family{IPv6} })},
			req: with(web, func(r *Request) { r.Families = dual; r.FamilyPolicy = PreferDualStack }), wantIPs: []string{"192.0.2.0"}},
		{name: "prefer dual-stack, first pool wins", pools: []PoolSpec{auto("a", "198.51.100.0/24"), auto("b", "192.0.2.0/24", "2001:db8::/64")},
			req: with(web, func(r *Request) { r.Families = dual; r.FamilyPolicy = PreferDualStack }), wantIPs: []string{"198.51.100.0"}, wantPool: "a"},
		{name: "prefer dual-stack, one family listed", pools: []PoolSpec{lan6}, req: with(web, func(r *Request) { r.Families = []Family{IPv4}; r.FamilyPolicy = PreferDualStack }), wantIPs: []string{"192.0.2.10"}},
		{name: "IPv6 Service, IPv4 pool", pools: []PoolSpec{lan}, req: with(web, func(r *Request) { r.Families = []Family{IPv6} }),
			wantErr: ErrNoPool, wantMsg: `pool "lan" has no IPv6 addresses`},
		{name: "unknown policy", pools: []PoolSpec{lan}, req: with(web, func(r *Request) { r.FamilyPolicy = "Both" }), wantErr: ErrInvalid, wantMsg: `unknown ipFamilyPolicy "Both"`},
		{name: "unknown family", pools: []PoolSpec{lan}, req: with(web, func(r *Request) { r.Families = []Family{5} }), wantErr: ErrInvalid, wantMsg: "unknown IP family 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAllocator(t, tt.pools...)
			for _, r := range tt.before {
				if _, err := a.Allocate(r); err != nil {
					t.Fatalf("setup: Allocate(%s): %v", r.Service, err)
				}
			}
			asg, err := a.Allocate(tt.req)
			checkResult(t, asg, err, tt.wantIPs, tt.wantPool, tt.wantErr, tt.wantMsg)
			if err != nil {
				if _, ok := a.Assigned(tt.req.Service); ok {
					t.Errorf("failed Allocate left an assignment for %s", tt.req.Service)
				}
				return
			}
			// Idempotent: the same request gives the same answer.
			again, err := a.Allocate(tt.req)
			checkResult(t, again, err, tt.wantIPs, asg.Pool, nil, "")
		})
	}
}
