package allocator

import (
	"fmt"
	"testing"
)

const benchServices = 10000

func benchRequests(n int, key bool, fams []Family) []Request {
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{
			Service:  fmt.Sprintf("ns%d/svc%d", i%50, i),
			Ports:    []Port{{"TCP", int32(80 + i%4)}},
			Families: fams,
		}
		if key {
			// Four Services per key, on different ports: they share one IP.
			reqs[i].SharingKey = fmt.Sprintf("k%d", i/4)
		}
	}
	return reqs
}

// BenchmarkAllocate gives 10,000 Services an IP each from a /16, starting
// from an empty allocator every iteration; ns/service is the cost of one
// Allocate.
func BenchmarkAllocate(b *testing.B) {
	cases := []struct {
		name string
		pool PoolSpec
		reqs []Request
	}{
		{"ipv4-16", auto("lan", "10.0.0.0/16"), benchRequests(benchServices, false, nil)},
		{"ipv4-16-avoid-buggy", PoolSpec{Name: "lan", Addresses: []string{"10.0.0.0/16"}, AutoAssign: true, AvoidBuggyIPs: true}, benchRequests(benchServices, false, nil)},
		{"ipv4-16-shared", auto("lan", "10.0.0.0/16"), benchRequests(benchServices, true, nil)},
		{"ipv6-64", auto("lan", "2001:db8::/64"), benchRequests(benchServices, false, []Family{IPv6})},
		{"dual-stack", auto("lan", "10.0.0.0/16", "2001:db8::/64"), func() []Request {
			r := benchRequests(benchServices, false, []Family{IPv4, IPv6})
			for i := range r {
				r[i].FamilyPolicy = RequireDualStack
			}
			return r
		}()},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			pool := mustPool(b, c.pool)
			b.ReportAllocs()
			for b.Loop() {
				a := New()
				a.SetPools([]*Pool{pool})
				for _, r := range c.reqs {
					if _, err := a.Allocate(r); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(c.reqs)), "ns/service")
		})
	}
}

// BenchmarkAllocateSteady is the controller's everyday cost with 10,000
// Services in place: re-allocating an unchanged Service (every resync), and
// a new Service arriving and leaving.
func BenchmarkAllocateSteady(b *testing.B) {
	a := New()
	a.SetPools([]*Pool{mustPool(b, auto("lan", "10.0.0.0/16"))})
	reqs := benchRequests(benchServices, false, nil)
	for _, r := range reqs {
		if _, err := a.Allocate(r); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("unchanged", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := a.Allocate(reqs[i%len(reqs)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("new-and-release", func(b *testing.B) {
		b.ReportAllocs()
		r := Request{Service: "ns/new"}
		for b.Loop() {
			if _, err := a.Allocate(r); err != nil {
				b.Fatal(err)
			}
			a.Release(r.Service)
		}
	})
}

// BenchmarkReload is a controller restart: a new allocator, the pools, and
// 10,000 existing assignments loaded with Assign.
func BenchmarkReload(b *testing.B) {
	pool := mustPool(b, auto("lan", "10.0.0.0/16"))
	src := New()
	src.SetPools([]*Pool{pool})
	reqs := benchRequests(benchServices, true, nil)
	asgs := make([]Assignment, len(reqs))
	for i, r := range reqs {
		asg, err := src.Allocate(r)
		if err != nil {
			b.Fatal(err)
		}
		asgs[i] = asg
	}
	b.ReportAllocs()
	for b.Loop() {
		a := New()
		a.SetPools([]*Pool{pool})
		for i, r := range reqs {
			if _, err := a.Assign(r, asgs[i].IPs); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(reqs)), "ns/service")
}

// BenchmarkStats is what the controller pays to refresh pool status.
func BenchmarkStats(b *testing.B) {
	a := New()
	a.SetPools([]*Pool{mustPool(b, PoolSpec{Name: "lan", Addresses: []string{"10.0.0.0/16", "2001:db8::/64"}, AutoAssign: true, AvoidBuggyIPs: true})})
	for _, r := range benchRequests(benchServices, false, nil) {
		if _, err := a.Allocate(r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = a.Stats()
	}
}
