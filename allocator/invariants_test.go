package allocator

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

// checkInvariants verifies the allocator's books against its holders:
// the address index, the run set and the key index agree, and every shared
// address is shared lawfully.
func checkInvariants(t *testing.T, a *Allocator) {
	t.Helper()
	users := map[netip.Addr][]*holder{}
	for name, h := range a.holders {
		if name != h.service {
			t.Fatalf("holder %q filed as %q", h.service, name)
		}
		fams := map[Family]bool{}
		for _, ip := range h.asg.IPs {
			if fams[familyOf(ip)] {
				t.Fatalf("%s has two %s addresses: %v", name, familyOf(ip), h.asg.IPs)
			}
			fams[familyOf(ip)] = true
			users[ip] = append(users[ip], h)
			if !a.used.contains(ip) {
				t.Fatalf("%v of %s missing from the run set", ip, name)
			}
			if h.share.key != "" && a.keyIPs[h.share.key][ip] == 0 {
				t.Fatalf("%v of %s missing from key %q", ip, name, h.share.key)
			}
		}
	}
	if len(users) != len(a.users) {
		t.Fatalf("address index has %d entries, holders use %d", len(a.users), len(users))
	}
	var n uint64
	for _, s := range a.used.spans {
		n += rangeSize(s.first, s.last).uint64()
	}
	if n != uint64(len(users)) {
		t.Fatalf("run set holds %d addresses, holders use %d", n, len(users))
	}
	for ip, hs := range users {
		if len(a.users[ip]) != len(hs) {
			t.Fatalf("address index for %v has %d users, want %d", ip, len(a.users[ip]), len(hs))
		}
		for i, x := range hs {
			for _, y := range hs[i+1:] {
				if err := x.share.compatible(x.service, ip, y.service, &y.share); err != nil {
					t.Fatalf("%v shared unlawfully: %v", ip, err)
				}
			}
		}
	}
	for key, ips := range a.keyIPs {
		for ip, count := range ips {
			got := 0
			for _, h := range users[ip] {
				if h.share.key == key {
					got++
				}
			}
			if got != count || count == 0 {
				t.Fatalf("key %q counts %d users of %v, holders say %d", key, count, ip, got)
			}
		}
	}
}

// FuzzAllocator runs random sequences of Allocate, Release, Assign and
// SetPools over small pools, checking the books after every step and that
// Allocate is idempotent.
func FuzzAllocator(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe})
	f.Add([]byte{0x13, 0x13, 0x23, 0x33, 0xc3, 0xe0, 0x13})
	poolSets := [][]PoolSpec{
		{auto("a", "192.0.2.0/30", "2001:db8::/126"), PoolSpec{Name: "m", Addresses: []string{"198.51.100.0/30"}}},
		{PoolSpec{Name: "a", Addresses: []string{"192.0.2.0-192.0.2.1", "2001:db8::/127"}, AutoAssign: true, AvoidBuggyIPs: true}},
		{auto("b", "192.0.2.2/31", "198.51.100.0/31"), auto("c", "2001:db8::/126")},
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 200 {
			return
		}
		a := New()
		current := 0
		last := map[string]Request{} // the request behind each assignment
		poolsOf := func(i int) []*Pool {
			var pools []*Pool
			for _, s := range poolSets[i%len(poolSets)] {
				pools = append(pools, mustPool(t, s))
			}
			return pools
		}
		setPools := func(i int) []string {
			current = i
			return a.SetPools(poolsOf(i))
		}
		setPools(0)
		for step, op := range ops {
			svc := fmt.Sprintf("ns/s%d", op&0x7)
			r := Request{Service: svc, Ports: []Port{{"TCP", int32(80 + (op>>3)&1)}}}
			if op&0x10 != 0 {
				r.SharingKey = "k"
			}
			switch (op >> 5) & 0x7 {
			case 0, 1:
			case 2:
				r.Families, r.FamilyPolicy = []Family{IPv6, IPv4}, PreferDualStack
			case 3:
				r.Families, r.FamilyPolicy = []Family{IPv4, IPv6}, RequireDualStack
			case 4:
				r.RequestedIPs = []string{fmt.Sprintf("192.0.2.%d", op&0x3)}
			case 5:
				a.Release(svc)
				delete(last, svc)
				checkInvariants(t, a)
				continue
			case 6:
				for _, name := range setPools(int(op)) {
					a.Release(name)
					delete(last, name)
				}
				checkInvariants(t, a)
				continue
			case 7:
				if asg, ok := a.Assigned(svc); ok {
					if _, err := a.Assign(r, asg.IPs); err == nil {
						last[svc] = r
					} else {
						// Assigning what a Service holds may fail only because
						// the request changed (families or sharing).
						if got, _ := a.Assigned(svc); !slices.Equal(got.IPs, asg.IPs) {
							t.Fatalf("step %d: failed Assign changed %s", step, svc)
						}
					}
				}
				checkInvariants(t, a)
				continue
			}
			asg, err := a.Allocate(r)
			checkInvariants(t, a)
			if err != nil {
				continue
			}
			last[svc] = r
			again, err := a.Allocate(r)
			if err != nil || !slices.Equal(again.IPs, asg.IPs) || again.Pool != asg.Pool {
				t.Fatalf("step %d: Allocate(%s) not idempotent: %v then %v, %v", step, svc, asg, again, err)
			}
			// All addresses come from asg.Pool, except after a pool edit split
			// a dual-stack pair: then each stays in some pool and Pool names
			// the first one's.
			if p := a.byName[asg.Pool]; !p.Contains(asg.IPs[0]) {
				t.Fatalf("step %d: %v is not in pool %q", step, asg.IPs[0], asg.Pool)
			}
			for _, ip := range asg.IPs {
				if a.poolFor(ip) == nil {
					t.Fatalf("step %d: %v is in no pool", step, ip)
				}
			}
		}
		// A restart: a new allocator loaded from the assignments alone holds
		// the same state and answers the same.
		b := New()
		b.SetPools(poolsOf(current))
		for _, name := range a.holderNames() {
			want, _ := a.Assigned(name)
			got, err := b.Assign(last[name], want.IPs)
			if err != nil || !slices.Equal(got.IPs, want.IPs) || got.Pool != want.Pool {
				t.Fatalf("reload of %s: %v, %v; want %v", name, got, err, want)
			}
		}
		for _, name := range a.holderNames() {
			x, errA := a.Allocate(last[name])
			y, errB := b.Allocate(last[name])
			if fmt.Sprint(errA) != fmt.Sprint(errB) || !slices.Equal(x.IPs, y.IPs) {
				t.Fatalf("after reload Allocate(%s) differs: %v %v / %v %v", name, x, errA, y, errB)
			}
		}
		for name, s := range a.Stats() {
			p := a.byName[name]
			if s.AssignedIPv4+s.AvailableIPv4 != p.size(IPv4).uint64() || s.AssignedIPv6+s.AvailableIPv6 != p.size(IPv6).uint64() {
				t.Fatalf("stats of %q do not add up: %+v", name, s)
			}
		}
	})
}
