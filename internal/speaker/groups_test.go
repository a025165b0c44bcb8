package speaker

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// summary renders groups as "name=ip,ip:svc,svc" for compact comparison.
func summary(groups []Group) []string {
	var out []string
	for _, g := range groups {
		var ips, svcs []string
		for _, ip := range g.IPs {
			ips = append(ips, ip.String())
		}
		for _, s := range g.Services {
			svcs = append(svcs, s.Name)
		}
		out = append(out, g.Name+"="+strings.Join(ips, ",")+":"+strings.Join(svcs, ","))
	}
	return out
}

func TestGroups(t *testing.T) {
	tests := []struct {
		name         string
		services     []*corev1.Service
		requireClass bool
		want         []string
		ignored      []string // name:reason
	}{
		{name: "none"},
		{
			name:     "one service one IP",
			services: []*corev1.Service{svc("a", "192.0.2.10")},
			want:     []string{"vip-192.0.2.10=192.0.2.10:a"},
		},
		{
			name:     "dual-stack service is one group named by its IPv4",
			services: []*corev1.Service{svc("a", "2001:db8::10", "192.0.2.10")},
			want:     []string{"vip-192.0.2.10=192.0.2.10,2001:db8::10:a"},
		},
		{
			name:     "IPv6 name has dashes, canonical form",
			services: []*corev1.Service{svc("a", "2001:0db8:0000::0010")},
			want:     []string{"vip-2001-db8--10=2001:db8::10:a"},
		},
		{
			name:     "IPv4-mapped IPv6 is IPv4",
			services: []*corev1.Service{svc("a", "::ffff:192.0.2.10")},
			want:     []string{"vip-192.0.2.10=192.0.2.10:a"},
		},
		{
			name:     "two services sharing an IP",
			services: []*corev1.Service{svc("tcp", "192.0.2.20"), svc("udp", "192.0.2.20")},
			want:     []string{"vip-192.0.2.20=192.0.2.20:tcp,udp"},
		},
		{
			name:     "separate services separate groups, sorted by IP",
			services: []*corev1.Service{svc("b", "192.0.2.9"), svc("a", "192.0.2.10"), svc("c", "2001:db8::1")},
			want:     []string{"vip-192.0.2.9=192.0.2.9:b", "vip-192.0.2.10=192.0.2.10:a", "vip-2001-db8--1=2001:db8::1:c"},
		},
		{
			name: "transitive sharing joins a chain",
			services: []*corev1.Service{
				svc("ds", "192.0.2.30", "2001:db8::30"),
				svc("v4", "192.0.2.30"),
				svc("v6", "2001:db8::30", "2001:db8::31"),
				svc("other", "2001:db8::31"),
			},
			want: []string{"vip-192.0.2.30=192.0.2.30,2001:db8::30,2001:db8::31:ds,other,v4,v6"},
		},
		{
			name:     "chain joined through a higher IP takes the lowest name",
			services: []*corev1.Service{svc("x", "192.0.2.50", "192.0.2.40"), svc("y", "192.0.2.50", "192.0.2.45")},
			want:     []string{"vip-192.0.2.40=192.0.2.40,192.0.2.45,192.0.2.50:x,y"},
		},
		{
			name: "duplicate ingress entries and hostnames",
			services: []*corev1.Service{with(svc("a", "192.0.2.10", "192.0.2.10", "not-an-ip"), func(s *corev1.Service) {
				s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{Hostname: "lb.example"})
			})},
			want: []string{"vip-192.0.2.10=192.0.2.10:a"},
		},
		{
			name:     "same name in two namespaces",
			services: []*corev1.Service{with(svc("a", "192.0.2.10"), ns("x")), with(svc("a", "192.0.2.10"), ns("y"))},
			want:     []string{"vip-192.0.2.10=192.0.2.10:a,a"},
		},
		{
			name:     "not a LoadBalancer: silently skipped",
			services: []*corev1.Service{with(svc("np", "192.0.2.10"), typ(corev1.ServiceTypeNodePort))},
		},
		{
			name:     "other class is ignored",
			services: []*corev1.Service{with(svc("other", "192.0.2.10"), class("example.com/lb")), svc("mine", "192.0.2.11")},
			want:     []string{"vip-192.0.2.11=192.0.2.11:mine"},
			ignored:  []string{"other:notOurClass"},
		},
		{
			name:     "other class sharing our IP does not join our group",
			services: []*corev1.Service{with(svc("other", "192.0.2.10"), class("example.com/lb")), svc("mine", "192.0.2.10")},
			want:     []string{"vip-192.0.2.10=192.0.2.10:mine"},
			ignored:  []string{"other:notOurClass"},
		},
		{
			name:     "our class explicitly",
			services: []*corev1.Service{with(svc("a", "192.0.2.10"), class("leaselb.io/l2"))},
			want:     []string{"vip-192.0.2.10=192.0.2.10:a"},
		},
		{
			name:         "require class: no class is not ours",
			services:     []*corev1.Service{svc("none", "192.0.2.10"), with(svc("mine", "192.0.2.11"), class("leaselb.io/l2"))},
			requireClass: true,
			want:         []string{"vip-192.0.2.11=192.0.2.11:mine"},
			ignored:      []string{"none:notOurClass"},
		},
		{
			name:     "no IP yet",
			services: []*corev1.Service{svc("pending"), svc("bad", "nope"), svc("zero", "0.0.0.0")},
			ignored:  []string{"bad:noIP", "pending:noIP", "zero:noIP"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups, ignored := Groups(tt.services, tt.requireClass)
			if got := summary(groups); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("groups:\n got %q\nwant %q", got, tt.want)
			}
			var ig []string
			for _, i := range ignored {
				ig = append(ig, i.Service.Name+":"+string(i.Reason))
			}
			if !reflect.DeepEqual(ig, tt.ignored) {
				t.Errorf("ignored: got %q, want %q", ig, tt.ignored)
			}
			// The result never depends on the order of the Services.
			for i := 0; i < 10; i++ {
				shuffled := append([]*corev1.Service(nil), tt.services...)
				rand.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
				g2, _ := Groups(shuffled, tt.requireClass)
				if got := summary(g2); !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("order %d: got %q, want %q", i, got, tt.want)
				}
			}
		})
	}
}

func TestGroupName(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.10":           "vip-192.0.2.10",
		"2001:db8::10":         "vip-2001-db8--10",
		"2001:DB8:0:0:0:0:0:1": "vip-2001-db8--1",
		"fe80::1%eth0":         "vip-fe80--1",
		"::ffff:198.51.100.7":  "vip-198.51.100.7",
	} {
		if got := GroupName(netip.MustParseAddr(in)); got != want {
			t.Errorf("GroupName(%s) = %s, want %s", in, got, want)
		}
	}
}

// BenchmarkGroups prints how long grouping 1,000 Services (some sharing)
// takes.
func BenchmarkGroups(b *testing.B) {
	var services []*corev1.Service
	for i := 0; i < 1000; i++ {
		ip := fmt.Sprintf("10.%d.%d.%d", i/65536, (i/256)%256, i%256)
		services = append(services, svc(fmt.Sprintf("s%d", i), ip))
		if i%10 == 0 {
			services = append(services, svc(fmt.Sprintf("shared%d", i), ip))
		}
	}
	b.ResetTimer()
	for b.Loop() {
		Groups(services, false)
	}
}
