package speaker

import (
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/leaselb/leaselb/api/v1alpha1"
	"github.com/leaselb/leaselb/l2"
)

// wlink is an up, usable interface with the given prefixes.
func wlink(name string, up bool, prefixes ...string) l2.Link {
	l := l2.Link{Name: name, Up: up, MAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(len(name))}}
	for _, p := range prefixes {
		l.Prefixes = append(l.Prefixes, netip.MustParsePrefix(p))
	}
	return l
}

func TestDecideWire(t *testing.T) {
	lan := pool("lan", "192.0.2.0/24", "2001:db8::100-2001:db8::1ff")
	far := pool("far", "198.51.100.0/24")
	nodes := []*corev1.Node{node("a"), node("b")}
	eth0 := wlink("eth0", true, "192.0.2.1/24", "2001:db8::1/64")
	v4only := wlink("eth0", true, "192.0.2.1/24")
	down := wlink("eth0", false, "192.0.2.1/24", "2001:db8::1/64")
	vlan := wlink("vlan30", true)

	tests := []struct {
		name       string
		services   []*corev1.Service
		ads        []*v1alpha1.L2Advertisement
		wire       *Wire
		node       string
		want       Reason // "" = candidate
		wantMsg    []string
		links      map[string][]string
		candidates []string
	}{
		{
			name: "unknown wire (doctor): not judged", services: []*corev1.Service{svc("s", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{advert("all")}, wire: nil, node: "a", candidates: []string{"a", "b"},
		},
		{
			name: "up interface on the subnet", services: []*corev1.Service{svc("s", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{advert("all")}, wire: &Wire{Node: "a", Links: []l2.Link{eth0}}, node: "a",
			links: map[string][]string{"192.0.2.10": {"eth0"}}, candidates: []string{"a", "b"},
		},
		{
			name: "link down", services: []*corev1.Service{svc("s", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{advert("all")}, wire: &Wire{Node: "a", Links: []l2.Link{down}}, node: "a",
			want: ReasonNoInterface, wantMsg: []string{"192.0.2.10", "eth0 (down"}, candidates: []string{"b"},
		},
		{
			name: "no links at all", services: []*corev1.Service{svc("s", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{advert("all")}, wire: &Wire{Node: "a"}, node: "a",
			want: ReasonNoInterface, wantMsg: []string{"192.0.2.10 (interfaces considered: none)"}, candidates: []string{"b"},
		},
		{
			name: "no address in the VIP's subnet", services: []*corev1.Service{svc("s", "198.51.100.7")},
			ads: []*v1alpha1.L2Advertisement{advert("all")}, wire: &Wire{Node: "a", Links: []l2.Link{eth0}}, node: "a",
			want: ReasonNoInterface, wantMsg: []string{"198.51.100.7", "eth0 (no address in the subnet)"}, candidates: []string{"b"},
		},
		{
			name: "another node's wire judges only that node", services: []*corev1.Service{svc("s", "192.0.2.10")},
			ads: []*v1alpha1.L2Advertisement{advert("all")}, wire: &Wire{Node: "b", Links: []l2.Link{down}}, node: "a",
			candidates: []string{"a"},
		},
		{
			name: "named interface without a subnet address", services: []*corev1.Service{svc("s", "198.51.100.7")},
			ads: []*v1alpha1.L2Advertisement{advert("vl", ifaces("vlan*"))}, wire: &Wire{Node: "a", Links: []l2.Link{eth0, vlan}}, node: "a",
			links: map[string][]string{"198.51.100.7": {"vlan30"}}, candidates: []string{"a", "b"},
		},
		{
			name: "named interface down", services: []*corev1.Service{svc("s", "198.51.100.7")},
			ads: []*v1alpha1.L2Advertisement{advert("vl", ifaces("vlan*"))}, wire: &Wire{Node: "a", Links: []l2.Link{eth0, wlink("vlan30", false)}}, node: "a",
			want: ReasonNoInterface, wantMsg: []string{"spec.interfaces vlan*: vlan30 (down"}, candidates: []string{"b"},
		},
		{
			name: "dual-stack, both IPs announceable", services: []*corev1.Service{svc("s", "192.0.2.10", "2001:db8::110")},
			ads: []*v1alpha1.L2Advertisement{advert("all")}, wire: &Wire{Node: "a", Links: []l2.Link{eth0}}, node: "a",
			links: map[string][]string{"192.0.2.10": {"eth0"}, "2001:db8::110": {"eth0"}}, candidates: []string{"a", "b"},
		},
		{
			name: "dual-stack, the IPv6 IP has no interface: not a candidate", services: []*corev1.Service{svc("s", "192.0.2.10", "2001:db8::110")},
			ads: []*v1alpha1.L2Advertisement{advert("all")}, wire: &Wire{Node: "a", Links: []l2.Link{v4only}}, node: "a",
			want: ReasonNoInterface, wantMsg: []string{"2001:db8::110 (interfaces considered: eth0 (no address"}, candidates: []string{"b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups, _ := Groups(tt.services, false)
			if len(groups) != 1 {
				t.Fatalf("%d groups, want 1", len(groups))
			}
			w := NewWorld(Inputs{Nodes: nodes, Pools: []*v1alpha1.IPAddressPool{lan, far}, Advertisements: tt.ads, Wire: tt.wire})
			d := w.Decide(tt.node, groups[0], false)
			if d.Candidate != (tt.want == "") || d.Reason != tt.want {
				t.Fatalf("Decide = candidate %v reason %q (%s), want reason %q", d.Candidate, d.Reason, d.Message, tt.want)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(d.Message, m) {
					t.Errorf("message %q does not contain %q", d.Message, m)
				}
			}
			if d.Candidate {
				var got map[string][]string
				if d.Links != nil {
					got = map[string][]string{}
					for ip, names := range d.Links {
						got[ip.String()] = names
					}
				}
				if !reflect.DeepEqual(got, tt.links) {
					t.Errorf("links = %v, want %v", got, tt.links)
				}
			}
			if got := w.Candidates(groups[0], false); !reflect.DeepEqual(got, tt.candidates) {
				t.Errorf("Candidates = %v, want %v", got, tt.candidates)
			}
		})
	}
}
