package allocator

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestAllocateKeepsOrMoves checks when a Service with an assignment keeps it
// and when a changed request moves it.
func TestAllocateKeepsOrMoves(t *testing.T) {
	pools := []PoolSpec{auto("lan", "192.0.2.10-192.0.2.20", "2001:db8::/120"), auto("wan", "198.51.100.0/24")}
	base := Request{Service: "ns/web", Namespace: "ns", SharingKey: "k", Ports: []Port{{"TCP", 80}}}
	tests := []struct {
		name    string
		others  []Request // allocated after web's first allocation
		change  func(*Request)
		wantIPs []string
		wantErr error
	}{
		{name: "unchanged", change: func(*Request) {}, wantIPs: []string{"192.0.2.10"}},
		{name: "labels change", change: func(r *Request) { r.Labels = map[string]string{"a": "b"} }, wantIPs: []string{"192.0.2.10"}},
		{name: "requested IP set to current", change: func(r *Request) { r.RequestedIPs = []string{"192.0.2.10"} }, wantIPs: []string{"192.0.2.10"}},
		{name: "requested IP changed", change: func(r *Request) { r.RequestedIPs = []string{"192.0.2.15"} }, wantIPs: []string{"192.0.2.15"}},
		{name: "pool annotation set to current", change: func(r *Request) { r.Pool = "lan" }, wantIPs: []string{"192.0.2.10"}},
		{name: "pool annotation changed", change: func(r *Request) { r.Pool = "wan" }, wantIPs: []string{"198.51.100.0"}},
		{name: "ports change, no sharer", change: func(r *Request) { r.Ports = []Port{{"TCP", 443}} }, wantIPs: []string{"192.0.2.10"}},
		{name: "ports now clash with sharer", others: []Request{{Service: "ns/b", SharingKey: "k", Ports: []Port{{"TCP", 443}}}},
			change: func(r *Request) { r.Ports = []Port{{"TCP", 443}} }, wantIPs: []string{"192.0.2.11"}},
		{name: "key changed with sharer", others: []Request{{Service: "ns/b", SharingKey: "k", Ports: []Port{{"TCP", 443}}}},
			change: func(r *Request) { r.SharingKey = "other" }, wantIPs: []string{"192.0.2.11"}},
		{name: "key dropped without sharer", change: func(r *Request) { r.SharingKey = "" }, wantIPs: []string{"192.0.2.10"}},
		{name: "single to prefer dual-stack adds IPv6", change: func(r *Request) { r.Families = []Family{IPv4, IPv6}; r.FamilyPolicy = PreferDualStack },
			wantIPs: []string{"192.0.2.10", "2001:db8::"}},
		{name: "single to require dual-stack keeps IPv4", change: func(r *Request) { r.Families = []Family{IPv4, IPv6}; r.FamilyPolicy = RequireDualStack },
			wantIPs: []string{"192.0.2.10", "2001:db8::"}},
		{name: "IPv4 to IPv6", change: func(r *Request) { r.Families = []Family{IPv6} }, wantIPs: []string{"2001:db8::"}},
		{name: "bad request keeps old", change: func(r *Request) { r.RequestedIPs = []string{"192.0.2.300"} }, wantErr: ErrInvalid},
		{name: "impossible request keeps old", change: func(r *Request) { r.RequestedIPs = []string{"203.0.113.1"} }, wantErr: ErrNotInPool},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAllocator(t, pools...)
			first, err := a.Allocate(base)
			if err != nil || first.IPs[0].String() != "192.0.2.10" {
				t.Fatalf("first Allocate = %v, %v", first, err)
			}
			for _, o := range tt.others {
				if _, err := a.Allocate(o); err != nil {
					t.Fatal(err)
				}
			}
			req := base
			tt.change(&req)
			asg, err := a.Allocate(req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if got, _ := a.Assigned("ns/web"); !slices.Equal(got.IPs, first.IPs) {
					t.Errorf("after a failed Allocate the Service has %v, want its old %v", got.IPs, first.IPs)
				}
				return
			}
			checkResult(t, asg, err, tt.wantIPs, "", nil, "")
			got, _ := a.Assigned("ns/web")
			checkResult(t, got, nil, tt.wantIPs, asg.Pool, nil, "")
		})
	}
}

func TestRelease(t *testing.T) {
	a := newAllocator(t, auto("lan", "192.0.2.10-192.0.2.20"))
	shared := func(name string, port int32) Request {
		return Request{Service: "ns/" + name, SharingKey: "k", Ports: []Port{{"TCP", port}}}
	}
	for _, r := range []Request{shared("a", 80), shared("b", 81), {Service: "ns/c"}} {
		if _, err := a.Allocate(r); err != nil {
			t.Fatal(err)
		}
	}
	a.Release("ns/a")
	a.Release("ns/nonexistent")
	if got, ok := a.Assigned("ns/b"); !ok || got.IPs[0].String() != "192.0.2.10" {
		t.Fatalf("sharer lost its IP after the other was released: %v", got)
	}
	if _, ok := a.Assigned("ns/a"); ok {
		t.Fatal("released Service still assigned")
	}
	// The shared IP is still in use, so a Service without a key gets the next free one.
	asg, err := a.Allocate(Request{Service: "ns/d"})
	checkResult(t, asg, err, []string{"192.0.2.12"}, "lan", nil, "")
	a.Release("ns/b")
	asg, err = a.Allocate(Request{Service: "ns/e"})
	checkResult(t, asg, err, []string{"192.0.2.10"}, "lan", nil, "")
	if got := a.Stats()["lan"]; got.AssignedIPv4 != 3 || got.AvailableIPv4 != 8 {
		t.Errorf("Stats = %+v, want 3 assigned, 8 available", got)
	}
}

func TestSetPools(t *testing.T) {
	services := []Request{
		{Service: "ns/a", RequestedIPs: []string{"192.0.2.0"}},
		{Service: "ns/b", RequestedIPs: []string{"192.0.2.200"}},
		{Service: "ns/c", SharingKey: "k", Ports: []Port{{"TCP", 80}}, RequestedIPs: []string{"192.0.2.100"}},
		{Service: "ns/d", SharingKey: "k", Ports: []Port{{"TCP", 81}}, RequestedIPs: []string{"192.0.2.100"}},
		{Service: "ns/e", Families: []Family{IPv4, IPv6}, FamilyPolicy: RequireDualStack, RequestedIPs: []string{"192.0.2.50", "2001:db8::50"}},
	}
	tests := []struct {
		name      string
		pools     []PoolSpec
		orphaned  []string
		wantPools map[string]string // service -> pool after the edit, for the ones kept
		after     map[string][]string
	}{
		{name: "same pools", pools: []PoolSpec{auto("lan", "192.0.2.0/24", "2001:db8::/64")}, wantPools: map[string]string{"ns/a": "lan", "ns/e": "lan"}},
		{name: "edit still covers", pools: []PoolSpec{auto("lan", "192.0.2.0-192.0.2.210", "2001:db8::/120", "203.0.113.0/24")}},
		{name: "autoAssign off and restricted", pools: []PoolSpec{{Name: "lan", Addresses: []string{"192.0.2.0/24", "2001:db8::/64"}, HasAllocation: true, Namespaces: []string{"elsewhere"}}}},
		{name: "renamed", pools: []PoolSpec{auto("new", "192.0.2.0/24", "2001:db8::/64")}, wantPools: map[string]string{"ns/a": "new", "ns/c": "new"}},
		// ns/e's two addresses now lie in two pools; it keeps them both.
		{name: "split in two", pools: []PoolSpec{auto("low", "192.0.2.0/25"), auto("high", "192.0.2.128/25", "2001:db8::/64")},
			wantPools: map[string]string{"ns/a": "low", "ns/b": "high", "ns/e": "low"}},
		{name: "shrunk", pools: []PoolSpec{auto("lan", "192.0.2.0/26", "192.0.2.128/25", "2001:db8::/64")}, orphaned: []string{"ns/c", "ns/d"},
			after: map[string][]string{"ns/c": {"192.0.2.1"}, "ns/d": {"192.0.2.1"}}},
		{name: "avoid buggy switched on", pools: []PoolSpec{{Name: "lan", Addresses: []string{"192.0.2.0/24", "2001:db8::/64"}, AutoAssign: true, AvoidBuggyIPs: true}}, orphaned: []string{"ns/a"},
			after: map[string][]string{"ns/a": {"192.0.2.1"}}},
		{name: "all gone", pools: nil, orphaned: []string{"ns/a", "ns/b", "ns/c", "ns/d", "ns/e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAllocator(t, auto("lan", "192.0.2.0/24", "2001:db8::/64"))
			before := map[string][]string{}
			for _, r := range services {
				asg, err := a.Allocate(r)
				if err != nil {
					t.Fatal(err)
				}
				before[r.Service] = ipStrings(asg.IPs)
			}
			var pools []*Pool
			for _, s := range tt.pools {
				pools = append(pools, mustPool(t, s))
			}
			orphaned := a.SetPools(pools)
			if !slices.Equal(orphaned, tt.orphaned) {
				t.Fatalf("orphaned = %v, want %v", orphaned, tt.orphaned)
			}
			for svc, pool := range tt.wantPools {
				if got, _ := a.Assigned(svc); got.Pool != pool {
					t.Errorf("%s is in pool %q, want %q", svc, got.Pool, pool)
				}
			}
			// What the controller does next: release orphans, allocate every Service again.
			for _, svc := range orphaned {
				a.Release(svc)
			}
			for _, r := range services {
				if slices.Contains(orphaned, r.Service) {
					r.RequestedIPs = nil
				}
				asg, err := a.Allocate(r)
				want, moved := tt.after[r.Service]
				if !moved && slices.Contains(orphaned, r.Service) {
					if err == nil {
						t.Errorf("%s: got %v with its pool gone", r.Service, asg.IPs)
					}
					continue
				}
				if !moved {
					want = before[r.Service]
				}
				if err != nil {
					t.Errorf("%s: %v", r.Service, err)
					continue
				}
				if got := ipStrings(asg.IPs); !slices.Equal(got, want) {
					t.Errorf("%s: after the edit has %v, want %v", r.Service, got, want)
				}
			}
		})
	}
}

func TestAssign(t *testing.T) {
	pools := []PoolSpec{auto("lan", "192.0.2.0/24", "2001:db8::/64"), auto("wan", "198.51.100.0/24")}
	holder := Request{Service: "ns/holder", SharingKey: "k", Ports: []Port{{"TCP", 80}}}
	tests := []struct {
		name     string
		req      Request
		ips      []string
		wantPool string
		wantErr  error
		wantMsg  string
	}{
		{name: "valid", req: Request{Service: "ns/web"}, ips: []string{"192.0.2.77"}, wantPool: "lan"},
		{name: "autoAssign and request ignored", req: Request{Service: "ns/web", Pool: "wan", RequestedIPs: []string{"198.51.100.1"}}, ips: []string{"192.0.2.77"}, wantPool: "lan"},
		{name: "dual-stack", req: Request{Service: "ns/web", Families: []Family{IPv6, IPv4}, FamilyPolicy: RequireDualStack}, ips: []string{"2001:db8::5", "192.0.2.5"}, wantPool: "lan"},
		{name: "shares", req: Request{Service: "ns/web", SharingKey: "k", Ports: []Port{{"TCP", 81}}}, ips: []string{"192.0.2.0"}, wantPool: "lan"},
		{name: "empty", req: Request{Service: "ns/web"}, wantErr: ErrInvalid, wantMsg: "no address"},
		{name: "in no pool", req: Request{Service: "ns/web"}, ips: []string{"203.0.113.1"}, wantErr: ErrNotInPool, wantMsg: "service ns/web: 203.0.113.1 is in no pool"},
		{name: "sharing conflict", req: Request{Service: "ns/web", SharingKey: "k", Ports: []Port{{"TCP", 80}}}, ips: []string{"192.0.2.0"}, wantErr: ErrSharing, wantMsg: "port 80/TCP"},
		{name: "wrong family", req: Request{Service: "ns/web", Families: []Family{IPv4}}, ips: []string{"2001:db8::1"}, wantErr: ErrInvalid},
		{name: "two of a family", req: Request{Service: "ns/web", FamilyPolicy: PreferDualStack}, ips: []string{"192.0.2.1", "192.0.2.2"}, wantErr: ErrInvalid},
		{name: "single-stack with two", req: Request{Service: "ns/web", Families: []Family{IPv4, IPv6}}, ips: []string{"192.0.2.1", "2001:db8::1"}, wantErr: ErrInvalid},
		{name: "mapped", req: Request{Service: "ns/web"}, ips: []string{"::ffff:192.0.2.1"}, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAllocator(t, pools...)
			if _, err := a.Allocate(holder); err != nil {
				t.Fatal(err)
			}
			asg, err := a.Assign(tt.req, addrs(tt.ips...))
			var want []string
			if tt.ips != nil {
				want = tt.ips
			}
			checkResult(t, asg, err, want, tt.wantPool, tt.wantErr, tt.wantMsg)
			if err != nil {
				if _, ok := a.Assigned(tt.req.Service); ok {
					t.Error("failed Assign left an assignment")
				}
			}
		})
	}
}

// randomRequests makes n varied requests, reproducibly from seed: sharing
// keys, ports, families, requested IPs (some bad), pool names.
func randomRequests(seed uint64, prefix string, n int) []Request {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []Request
	for i := range n {
		r := Request{Service: fmt.Sprintf("ns%d/%s%d", i%3, prefix, i), Namespace: fmt.Sprintf("ns%d", i%3)}
		r.Labels = map[string]string{"tier": []string{"front", "back"}[rng.IntN(2)]}
		if rng.IntN(3) == 0 {
			r.SharingKey = fmt.Sprintf("key%d", rng.IntN(4))
			r.TrafficPolicyLocal = rng.IntN(4) == 0
			r.Selector = map[string]string{"app": fmt.Sprintf("a%d", rng.IntN(2))}
		}
		r.Ports = []Port{{"TCP", int32(80 + rng.IntN(4))}}
		switch rng.IntN(4) {
		case 0:
			r.Families = []Family{IPv4, IPv6}
			r.FamilyPolicy = []FamilyPolicy{PreferDualStack, RequireDualStack}[rng.IntN(2)]
		case 1:
			r.Families = []Family{IPv6}
		default:
			r.Families = []Family{IPv4}
		}
		switch rng.IntN(10) {
		case 0:
			r.RequestedIPs = []string{fmt.Sprintf("192.0.2.%d", rng.IntN(300))}
			r.Families = []Family{IPv4}
			r.FamilyPolicy = ""
		case 1:
			r.Pool = []string{"lan", "reserved", "tenant", "nope"}[rng.IntN(4)]
		}
		out = append(out, r)
	}
	return out
}

func restartPools() []PoolSpec {
	tenant := auto("tenant", "198.51.100.0/28")
	tenant.HasAllocation, tenant.Priority, tenant.Namespaces = true, 1, []string{"ns1"}
	return []PoolSpec{
		{Name: "lan", Addresses: []string{"192.0.2.0/24", "2001:db8::/64"}, AutoAssign: true, AvoidBuggyIPs: true},
		{Name: "reserved", Addresses: []string{"203.0.113.0/29"}},
		tenant,
	}
}

// TestRestartDeterminism allocates many Services, rebuilds the state in a
// new allocator from the assignments alone (as a restarted controller does
// from Service statuses, in another order), and checks that nothing moves
// and that further allocations come out the same in both.
func TestRestartDeterminism(t *testing.T) {
	reqs := randomRequests(42, "s", 400)
	a := newAllocator(t, restartPools()...)
	got := map[string]Assignment{}
	for _, r := range reqs {
		if asg, err := a.Allocate(r); err == nil {
			got[r.Service] = asg
		}
	}
	if len(got) < len(reqs)/2 {
		t.Fatalf("only %d of %d requests allocated; the test would prove little", len(got), len(reqs))
	}
	// A few releases, so the state has holes.
	for i, r := range reqs {
		if i%7 == 0 {
			a.Release(r.Service)
			delete(got, r.Service)
		}
	}

	b := newAllocator(t, restartPools()...)
	order := slices.Clone(reqs)
	rand.New(rand.NewPCG(7, 7)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, r := range order {
		asg, ok := got[r.Service]
		if !ok {
			continue
		}
		re, err := b.Assign(r, asg.IPs)
		if err != nil {
			t.Fatalf("Assign(%s, %v): %v", r.Service, asg.IPs, err)
		}
		if !slices.Equal(re.IPs, asg.IPs) || re.Pool != asg.Pool {
			t.Fatalf("Assign(%s) = %v, want %v", r.Service, re, asg)
		}
	}
	if sa, sb := a.Stats(), b.Stats(); !mapsEqual(sa, sb) {
		t.Fatalf("stats differ after reload:\n%v\n%v", sa, sb)
	}
	// The restarted controller allocates every Service again: nothing moves.
	for _, r := range reqs {
		asg, ok := got[r.Service]
		if !ok {
			continue
		}
		again, err := b.Allocate(r)
		if err != nil || !slices.Equal(again.IPs, asg.IPs) {
			t.Fatalf("after reload Allocate(%s) = %v, %v; want %v", r.Service, again.IPs, err, asg.IPs)
		}
	}
	// New Services get the same answers from both.
	for _, r := range randomRequests(99, "new", 200) {
		x, errA := a.Allocate(r)
		y, errB := b.Allocate(r)
		if fmt.Sprint(errA) != fmt.Sprint(errB) || !slices.Equal(x.IPs, y.IPs) || x.Pool != y.Pool {
			t.Fatalf("Allocate(%s) differs: %v %v / %v %v", r.Service, x, errA, y, errB)
		}
	}
}

func mapsEqual(a, b map[string]Stats) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
