package speaker

import (
	"fmt"
	"k8s.io/apimachinery/pkg/runtime"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/leaselb/leaselb/api/v1alpha1"
)

func TestDecide(t *testing.T) {
	lan := pool("lan", "192.0.2.0/24", "2001:db8::100-2001:db8::1ff")
	v6 := pool("v6", "2001:db8:1::/64")
	dark := pool("dark", "198.51.100.0/24")
	nodes := []*corev1.Node{node("a"), node("b", label("zone", "b")), node("c", label("zone", "c"))}
	all := advert("all")
	exclude := label(v1alpha1.LabelExcludeFromLB, "")

	type tc struct {
		name         string
		services     []*corev1.Service
		nodes        []*corev1.Node
		pools        []*v1alpha1.IPAddressPool
		ads          []*v1alpha1.L2Advertisement
		slices       []*discoveryv1.EndpointSlice
		requireClass bool
		// ignoreExclude is the speaker's --ignore-exclude-label.
		ignoreExclude bool
		node          string
		want          Reason // "" = candidate
		wantMsg       string // substring of the message
		ips           []netip.Addr
		ifaces        map[string][]string // ip -> interfaces (nil: default choice)
		candidates    []string
	}
	tests := []tc{
		{
			name: "plain candidate on every node", services: []*corev1.Service{svc("a", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{all}, node: "a",
			ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"a", "b", "c"},
		},
		{
			name: "not our class", services: []*corev1.Service{with(svc("a", "192.0.2.10"), class("example.com/lb"))},
			ads: []*v1alpha1.L2Advertisement{all}, node: "a", want: ReasonNotOurClass, wantMsg: "loadBalancerClass",
		},
		{
			name: "no class with require-class", services: []*corev1.Service{svc("a", "192.0.2.10")}, requireClass: true,
			ads: []*v1alpha1.L2Advertisement{all}, node: "a", want: ReasonNotOurClass, wantMsg: "--require-class",
		},
		{
			name: "no IP", services: []*corev1.Service{svc("a")},
			ads: []*v1alpha1.L2Advertisement{all}, node: "a", want: ReasonNoIP,
		},
		{
			name: "no advertisement at all", services: []*corev1.Service{svc("a", "192.0.2.10")},
			node: "a", want: ReasonNoAdvertisement, wantMsg: `IPAddressPool "lan", which no L2Advertisement covers`,
		},
		{
			name: "IP in no pool", services: []*corev1.Service{svc("a", "203.0.113.5")},
			ads: []*v1alpha1.L2Advertisement{all}, node: "a", want: ReasonNoAdvertisement, wantMsg: "203.0.113.5 is in no IPAddressPool",
		},
		{
			name: "advertisement names another pool", services: []*corev1.Service{svc("a", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{advert("v6only", pools("v6"))}, node: "a", want: ReasonNoAdvertisement,
		},
		{
			name: "advertisement names the pool", services: []*corev1.Service{svc("a", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{advert("l2", pools("lan"))}, node: "b",
			ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"a", "b", "c"},
		},
		{
			name: "advertisement selects the pool by label", services: []*corev1.Service{svc("a", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{advert("l2", poolSelector(map[string]string{"pool": "lan"}))}, node: "b",
			ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"a", "b", "c"},
		},
		{
			name: "pool selector matches another pool", services: []*corev1.Service{svc("a", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{advert("l2", poolSelector(map[string]string{"pool": "v6"}))}, node: "b",
			want: ReasonNoAdvertisement,
		},
		{
			name: "pool entry that does not parse counts for nothing", services: []*corev1.Service{svc("a", "192.0.2.10")},
			pools: []*v1alpha1.IPAddressPool{pool("broken", "192.0.2.300/24", "192.0.2.10/32")},
			ads:   []*v1alpha1.L2Advertisement{all}, node: "a",
			ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"a", "b", "c"},
		},
		{
			name: "node unknown", services: []*corev1.Service{svc("a", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{all}, node: "ghost", want: ReasonNodeUnknown, wantMsg: "--node-name",
			candidates: []string{"a", "b", "c"},
		},
		{
			name: "node excluded by label", services: []*corev1.Service{svc("a", "192.0.2.10")},
			nodes: []*corev1.Node{node("a", exclude), node("b")}, ads: []*v1alpha1.L2Advertisement{all}, node: "a",
			want: ReasonNodeExcluded, wantMsg: v1alpha1.LabelExcludeFromLB, candidates: []string{"b"},
		},
		{
			name: "exclusion label with a value still excludes", services: []*corev1.Service{svc("a", "192.0.2.10")},
			nodes: []*corev1.Node{node("a", label(v1alpha1.LabelExcludeFromLB, "false")), node("b")},
			ads:   []*v1alpha1.L2Advertisement{all}, node: "a", want: ReasonNodeExcluded, candidates: []string{"b"},
		},
		{
			name: "cordoned node (kubectl drain)", services: []*corev1.Service{svc("a", "192.0.2.10")},
			nodes: []*corev1.Node{node("a", cordoned), node("b")}, ads: []*v1alpha1.L2Advertisement{all}, node: "a",
			want: ReasonNodeCordoned, wantMsg: "kubectl uncordon a", candidates: []string{"b"},
		},
		{
			name: "excluded node announces with --ignore-exclude-label", services: []*corev1.Service{svc("a", "192.0.2.10")},
			nodes: []*corev1.Node{node("a", exclude), node("b")}, ads: []*v1alpha1.L2Advertisement{all}, node: "a", ignoreExclude: true,
			ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"a", "b"},
		},
		{
			name: "--ignore-exclude-label does not lift NetworkUnavailable", services: []*corev1.Service{svc("a", "192.0.2.10")},
			nodes: []*corev1.Node{node("a", exclude, condition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)), node("b", exclude)},
			ads:   []*v1alpha1.L2Advertisement{all}, node: "a", ignoreExclude: true, want: ReasonNetworkUnavailable, candidates: []string{"b"},
		},
		{
			name: "network unavailable", services: []*corev1.Service{svc("a", "192.0.2.10")},
			nodes: []*corev1.Node{node("a", condition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)), node("b")},
			ads:   []*v1alpha1.L2Advertisement{all}, node: "a", want: ReasonNetworkUnavailable, candidates: []string{"b"},
		},
		{
			name: "network available (False) is fine", services: []*corev1.Service{svc("a", "192.0.2.10")},
			nodes: []*corev1.Node{node("a", condition(corev1.NodeNetworkUnavailable, corev1.ConditionFalse))},
			ads:   []*v1alpha1.L2Advertisement{all}, node: "a",
			ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"a"},
		},
		{
			name: "NotReady node stays a candidate", services: []*corev1.Service{svc("a", "192.0.2.10")},
			nodes: []*corev1.Node{node("a", condition(corev1.NodeReady, corev1.ConditionFalse))},
			ads:   []*v1alpha1.L2Advertisement{all}, node: "a",
			ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"a"},
		},
		{
			name: "node selector excludes this node", services: []*corev1.Service{svc("a", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{advert("zb", nodeSelector(map[string]string{"zone": "b"}))}, node: "a",
			want: ReasonNodeNotSelected, wantMsg: "zb", candidates: []string{"b"},
		},
		{
			name: "node selector selects this node", services: []*corev1.Service{svc("a", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{advert("zb", nodeSelector(map[string]string{"zone": "b"}))}, node: "b",
			ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"b"},
		},
		{
			name: "any of an advertisement's node selectors", services: []*corev1.Service{svc("a", "192.0.2.10")},
			ads:  []*v1alpha1.L2Advertisement{advert("bc", nodeSelector(map[string]string{"zone": "b"}), nodeSelector(map[string]string{"zone": "c"}))},
			node: "c", ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"b", "c"},
		},
		{
			name: "any advertisement's node selector", services: []*corev1.Service{svc("a", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{
				advert("zb", nodeSelector(map[string]string{"zone": "b"}), ifaces("eth1")),
				advert("zc", nodeSelector(map[string]string{"zone": "c"}), ifaces("eth2")),
			},
			node: "c", ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": {"eth2"}}, candidates: []string{"b", "c"},
		},
		{
			name: "a node selector that does not parse selects nobody", services: []*corev1.Service{svc("a", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{advert("bad", badNodeSelector())}, node: "a", want: ReasonNodeNotSelected,
		},
		{
			name: "excluded wins over not selected", services: []*corev1.Service{svc("a", "192.0.2.10")},
			nodes: []*corev1.Node{node("a", exclude)},
			ads:   []*v1alpha1.L2Advertisement{advert("zb", nodeSelector(map[string]string{"zone": "b"}))}, node: "a",
			want: ReasonNodeExcluded,
		},
		{
			name: "interfaces: union of the selecting advertisements", services: []*corev1.Service{svc("a", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{advert("x", ifaces("eth1", "eth0")), advert("y", ifaces("eth0", "bond0")),
				advert("z", ifaces("eth9"), nodeSelector(map[string]string{"zone": "c"}))},
			node: "a", ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": {"bond0", "eth0", "eth1"}},
			candidates: []string{"a", "b", "c"},
		},
		{
			name:     "interfaces: an advertisement without a list means the default choice",
			services: []*corev1.Service{svc("a", "192.0.2.10")},
			ads:      []*v1alpha1.L2Advertisement{advert("x", ifaces("eth1")), advert("y")},
			node:     "a", ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"a", "b", "c"},
		},
		{
			name: "dual-stack: interfaces per IP", services: []*corev1.Service{svc("a", "192.0.2.10", "2001:db8:1::10")},
			ads:  []*v1alpha1.L2Advertisement{advert("v4", pools("lan"), ifaces("eth0")), advert("v6", pools("v6"), ifaces("eth1"))},
			node: "a", ips: addrs("192.0.2.10", "2001:db8:1::10"),
			ifaces:     map[string][]string{"192.0.2.10": {"eth0"}, "2001:db8:1::10": {"eth1"}},
			candidates: []string{"a", "b", "c"},
		},
		{
			name:     "dual-stack: an unadvertised IP is left out, the other announced",
			services: []*corev1.Service{svc("a", "192.0.2.10", "2001:db8:1::10")},
			ads:      []*v1alpha1.L2Advertisement{advert("v4", pools("lan"))},
			node:     "b", ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"a", "b", "c"},
		},
		{
			name:     "dual-stack: node must be selected for every advertised IP",
			services: []*corev1.Service{svc("a", "192.0.2.10", "2001:db8:1::10")},
			ads: []*v1alpha1.L2Advertisement{advert("v4", pools("lan")),
				advert("v6", pools("v6"), nodeSelector(map[string]string{"zone": "c"}))},
			node: "b", want: ReasonNodeNotSelected, wantMsg: "2001:db8:1::10", candidates: []string{"c"},
		},
		{
			name: "IP in a pool nobody advertises next to one in no pool", services: []*corev1.Service{svc("a", "198.51.100.1", "203.0.113.1")},
			pools: []*v1alpha1.IPAddressPool{dark}, ads: []*v1alpha1.L2Advertisement{advert("l2", pools("lan"))},
			node: "a", want: ReasonNoAdvertisement, wantMsg: "203.0.113.1 is in no IPAddressPool",
		},
		{
			name: "Local: ready endpoint here", services: []*corev1.Service{with(svc("web", "192.0.2.10"), local())},
			ads:    []*v1alpha1.L2Advertisement{all},
			slices: []*discoveryv1.EndpointSlice{slice("web", "web-1", ep{node: "b", ready: yes()}, ep{node: "c", ready: no(), serving: yes()})},
			node:   "b", ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"b"},
		},
		{
			name: "Local: no endpoint here", services: []*corev1.Service{with(svc("web", "192.0.2.10"), local())},
			ads:    []*v1alpha1.L2Advertisement{all},
			slices: []*discoveryv1.EndpointSlice{slice("web", "web-1", ep{node: "b", ready: yes()})},
			node:   "a", want: ReasonNoLocalEndpoint, wantMsg: "default/web", candidates: []string{"b"},
		},
		{
			name: "Local: no slices at all", services: []*corev1.Service{with(svc("web", "192.0.2.10"), local())},
			ads: []*v1alpha1.L2Advertisement{all}, node: "a", want: ReasonNoLocalEndpoint,
		},
		{
			name: "Local: ready unset means ready", services: []*corev1.Service{with(svc("web", "192.0.2.10"), local())},
			ads:    []*v1alpha1.L2Advertisement{all},
			slices: []*discoveryv1.EndpointSlice{slice("web", "web-1", ep{node: "a"})},
			node:   "a", ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"a"},
		},
		{
			name: "Local: only serving here while ready elsewhere", services: []*corev1.Service{with(svc("web", "192.0.2.10"), local())},
			ads:    []*v1alpha1.L2Advertisement{all},
			slices: []*discoveryv1.EndpointSlice{slice("web", "web-1", ep{node: "a", ready: no(), serving: yes()}, ep{node: "b", ready: yes()})},
			node:   "a", want: ReasonNoLocalEndpoint, candidates: []string{"b"},
		},
		{
			name: "Local: serving counts when nothing is ready", services: []*corev1.Service{with(svc("web", "192.0.2.10"), local())},
			ads:    []*v1alpha1.L2Advertisement{all},
			slices: []*discoveryv1.EndpointSlice{slice("web", "web-1", ep{node: "a", ready: no(), serving: yes()}, ep{node: "b", ready: no(), serving: no()})},
			node:   "a", ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"a"},
		},
		{
			name: "Local: neither ready nor serving", services: []*corev1.Service{with(svc("web", "192.0.2.10"), local())},
			ads:    []*v1alpha1.L2Advertisement{all},
			slices: []*discoveryv1.EndpointSlice{slice("web", "web-1", ep{node: "a", ready: no(), serving: no()})},
			node:   "a", want: ReasonNoLocalEndpoint,
		},
		{
			name: "Local: endpoints spread over slices", services: []*corev1.Service{with(svc("web", "192.0.2.10"), local())},
			ads: []*v1alpha1.L2Advertisement{all},
			slices: []*discoveryv1.EndpointSlice{slice("web", "web-1", ep{node: "a", ready: yes()}),
				slice("web", "web-2", ep{node: "c", ready: yes()})},
			node: "c", ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"a", "c"},
		},
		{
			name: "Local: another Service's endpoints do not count", services: []*corev1.Service{with(svc("web", "192.0.2.10"), local())},
			ads:    []*v1alpha1.L2Advertisement{all},
			slices: []*discoveryv1.EndpointSlice{slice("db", "db-1", ep{node: "a", ready: yes()})},
			node:   "a", want: ReasonNoLocalEndpoint,
		},
		{
			name: "Local: FQDN slices do not count", services: []*corev1.Service{with(svc("web", "192.0.2.10"), local())},
			ads: []*v1alpha1.L2Advertisement{all},
			slices: []*discoveryv1.EndpointSlice{func() *discoveryv1.EndpointSlice {
				s := slice("web", "web-1", ep{node: "a", ready: yes()})
				s.AddressType = discoveryv1.AddressTypeFQDN
				return s
			}()},
			node: "a", want: ReasonNoLocalEndpoint,
		},
		{
			name: "Cluster policy ignores endpoints", services: []*corev1.Service{svc("web", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{all}, node: "a",
			ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"a", "b", "c"},
		},
		{
			name:     "shared Local group: an endpoint of ANY Local Service is enough",
			services: []*corev1.Service{with(svc("tcp", "192.0.2.10"), local()), with(svc("udp", "192.0.2.10"), local())},
			ads:      []*v1alpha1.L2Advertisement{all},
			slices: []*discoveryv1.EndpointSlice{slice("tcp", "tcp-1", ep{node: "a", ready: yes()}),
				slice("udp", "udp-1", ep{node: "b", ready: yes()})},
			node: "b", ips: addrs("192.0.2.10"), ifaces: map[string][]string{"192.0.2.10": nil}, candidates: []string{"a", "b"},
		},
		{
			name:     "mixed policies: the Local Service's endpoints decide",
			services: []*corev1.Service{svc("cluster", "192.0.2.10"), with(svc("local", "192.0.2.10"), local())},
			ads:      []*v1alpha1.L2Advertisement{all},
			slices:   []*discoveryv1.EndpointSlice{slice("local", "local-1", ep{node: "c", ready: yes()})},
			node:     "a", want: ReasonNoLocalEndpoint, candidates: []string{"c"},
		},
		{
			name:     "Local but node not selected: selection is reported first",
			services: []*corev1.Service{with(svc("web", "192.0.2.10"), local())},
			ads:      []*v1alpha1.L2Advertisement{advert("zb", nodeSelector(map[string]string{"zone": "b"}))},
			node:     "a", want: ReasonNodeNotSelected, candidates: nil,
		},
	}
	// Every case runs twice: on the objects as written, and as the
	// speaker's informers cache them (trimForCache), which must decide the
	// same.
	for _, trimmed := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.name
			if trimmed {
				name += " (cached)"
			}
			t.Run(name, func(t *testing.T) {
				if tt.nodes == nil {
					tt.nodes = nodes
				}
				if trimmed {
					tt.services, tt.nodes, tt.slices = trimAll(tt.services), trimAll(tt.nodes), trimAll(tt.slices)
				}
				if tt.pools == nil {
					tt.pools = []*v1alpha1.IPAddressPool{lan, v6, dark}
				}
				groups, _ := Groups(tt.services, false)
				var g Group
				switch len(groups) {
				case 0:
					// Not ours or no IP: decide on the raw group as a caller
					// could build it.
					g = Group{Name: "vip-test", Services: tt.services}
					for _, s := range tt.services {
						g.IPs = append(g.IPs, ServiceIPs(s)...)
					}
				case 1:
					g = groups[0]
				default:
					t.Fatalf("services form %d groups, want 1", len(groups))
				}
				w := NewWorld(Inputs{Nodes: tt.nodes, Pools: tt.pools, Advertisements: tt.ads, EndpointSlices: tt.slices, IgnoreExcludeLabel: tt.ignoreExclude})
				d := w.Decide(tt.node, g, tt.requireClass)
				if d.Candidate != (tt.want == "") || d.Reason != tt.want {
					t.Fatalf("Decide = candidate %v reason %q (%s), want reason %q", d.Candidate, d.Reason, d.Message, tt.want)
				}
				if !strings.Contains(d.Message, tt.wantMsg) {
					t.Errorf("message %q does not contain %q", d.Message, tt.wantMsg)
				}
				if d.Candidate {
					if !reflect.DeepEqual(d.IPs, tt.ips) {
						t.Errorf("IPs = %v, want %v", d.IPs, tt.ips)
					}
					got := map[string][]string{}
					for ip, ifs := range d.Interfaces {
						got[ip.String()] = ifs
					}
					if !reflect.DeepEqual(got, tt.ifaces) {
						t.Errorf("interfaces = %#v, want %#v", got, tt.ifaces)
					}
				} else if d.Message == "" {
					t.Errorf("no message for reason %s", d.Reason)
				}
				if got := w.Candidates(g, tt.requireClass); !reflect.DeepEqual(got, tt.candidates) {
					t.Errorf("Candidates = %v, want %v", got, tt.candidates)
				}
				// Candidates is Decide over every node.
				var again []string
				for _, n := range w.NodeNames() {
					if w.Decide(n, g, tt.requireClass).Candidate {
						again = append(again, n)
					}
				}
				if !reflect.DeepEqual(again, tt.candidates) {
					t.Errorf("Decide over every node = %v, want %v", again, tt.candidates)
				}
			})
		}
	}
}

// trimAll returns trimmed deep copies of objs, as the informers cache them.
func trimAll[T interface{ DeepCopyObject() runtime.Object }](objs []T) []T {
	var out []T
	for _, o := range objs {
		c, err := trimForCache(o.DeepCopyObject())
		if err != nil {
			panic(err)
		}
		out = append(out, c.(T))
	}
	return out
}

// BenchmarkCandidacy prints the cost of deciding 1,000 groups on 100 nodes,
// the work of one recompute.
func BenchmarkCandidacy(b *testing.B) {
	var services []*corev1.Service
	var slices []*discoveryv1.EndpointSlice
	var nodes []*corev1.Node
	for i := 0; i < 100; i++ {
		nodes = append(nodes, node(fmt.Sprintf("n%02d", i), label("zone", fmt.Sprint(i%3))))
	}
	for i := 0; i < 1000; i++ {
		s := svc(fmt.Sprintf("s%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		if i%2 == 0 {
			s = with(s, local())
			slices = append(slices, slice(s.Name, s.Name+"-1", ep{node: fmt.Sprintf("n%02d", i%100), ready: yes()}))
		}
		services = append(services, s)
	}
	in := Inputs{Nodes: nodes, Pools: []*v1alpha1.IPAddressPool{pool("p", "10.0.0.0/16")},
		Advertisements: []*v1alpha1.L2Advertisement{advert("a", nodeSelector(map[string]string{"zone": "1"})), advert("b", ifaces("eth0"))},
		EndpointSlices: slices}
	b.ResetTimer()
	for b.Loop() {
		groups, _ := Groups(services, false)
		w := NewWorld(in)
		for _, g := range groups {
			v := w.view(g, false)
			v.decide("n01")
			v.candidates()
		}
	}
}

// TestTrimForCache: the heavy parts the speaker never reads are gone from
// what its informers cache.
func TestTrimForCache(t *testing.T) {
	s := svc("a", "192.0.2.10")
	s.Annotations = map[string]string{lastApplied: strings.Repeat("x", 2000), "keep": "me"}
	s.Spec.Ports = []corev1.ServicePort{{Port: 80}}
	s.Spec.Selector = map[string]string{"app": "a"}
	n := node("a")
	n.Status.Images = []corev1.ContainerImage{{Names: []string{"registry.example/big:1"}}}
	sl := slice("a", "a-1", ep{node: "a", ready: yes()})
	sl.Endpoints[0].TargetRef = &corev1.ObjectReference{Kind: "Pod", Name: "a-1"}
	for _, tc := range []struct {
		name string
		obj  runtime.Object
		gone func(runtime.Object) bool
	}{
		{"Service: last-applied, ports, selector", s, func(o runtime.Object) bool {
			c := o.(*corev1.Service)
			return c.Annotations[lastApplied] == "" && c.Annotations["keep"] == "me" && c.Spec.Ports == nil && c.Spec.Selector == nil
		}},
		{"Node: images", n, func(o runtime.Object) bool {
			c := o.(*corev1.Node)
			return c.Status.Images == nil && len(c.Status.Conditions) == len(n.Status.Conditions)
		}},
		{"EndpointSlice: target refs", sl, func(o runtime.Object) bool {
			c := o.(*discoveryv1.EndpointSlice)
			return c.Endpoints[0].TargetRef == nil && *c.Endpoints[0].NodeName == "a"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := trimForCache(tc.obj.DeepCopyObject())
			if err != nil || !tc.gone(got.(runtime.Object)) {
				t.Errorf("trimForCache = %+v, %v", got, err)
			}
		})
	}
}
