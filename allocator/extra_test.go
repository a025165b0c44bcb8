package allocator

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

// A Pool must not change when the caller reuses the spec's slices.
func TestPoolIsImmutable(t *testing.T) {
	addrs := []string{"192.0.2.0/24"}
	ns := []string{"a"}
	p := mustPool(t, PoolSpec{Name: "p", Addresses: addrs, HasAllocation: true, Namespaces: ns})
	addrs[0], ns[0] = "198.51.100.0/24", "b"
	if !p.Contains(netip.MustParseAddr("192.0.2.1")) || p.Contains(netip.MustParseAddr("198.51.100.1")) {
		t.Error("pool follows the caller's Addresses slice")
	}
	if !p.serves(&Request{Service: "a/x"}) || p.Spec().Namespaces[0] != "a" {
		t.Error("pool follows the caller's Namespaces slice")
	}
	s := p.Spec()
	s.Addresses[0] = "x"
	if p.Spec().Addresses[0] != "192.0.2.0/24" {
		t.Error("Spec returns the pool's own slice")
	}
}

// Callers wrap allocator errors; the sentinels must survive that.
func TestSentinelsSurviveWrapping(t *testing.T) {
	a := newAllocator(t, auto("lan", "192.0.2.0/32"))
	_, err := a.Allocate(Request{Service: "ns/web", RequestedIPs: []string{"198.51.100.1"}})
	wrapped := fmt.Errorf("reconcile: %w", err)
	if !errors.Is(wrapped, ErrNotInPool) || errors.Is(wrapped, ErrNoFreeIP) {
		t.Fatalf("errors.Is on %v went wrong", wrapped)
	}
	if got := err.Error(); got != "service ns/web: 198.51.100.1 is in no pool; add it to an IPAddressPool or drop spec.loadBalancerIP (or the loadBalancerIPs annotation)" {
		t.Errorf("message = %q", got)
	}
}

func TestRunsCountIn(t *testing.T) {
	var r runs
	for _, s := range []string{"192.0.2.0", "192.0.2.1", "192.0.2.255", "192.0.3.0", "192.0.3.7", "2001:db8::1"} {
		r.add(netip.MustParseAddr(s))
	}
	tests := []struct {
		first, last string
		skipBuggy   bool
		want        uint64
	}{
		{"192.0.2.0", "192.0.3.255", false, 5},
		{"192.0.2.0", "192.0.3.255", true, 2},
		{"192.0.2.1", "192.0.3.0", false, 3},
		{"192.0.3.1", "192.0.3.6", false, 0},
		{"2001:db8::", "2001:db8::ffff", false, 1},
	}
	for _, tt := range tests {
		if got := r.countIn(netip.MustParseAddr(tt.first), netip.MustParseAddr(tt.last), tt.skipBuggy).uint64(); got != tt.want {
			t.Errorf("countIn(%s, %s, %v) = %d, want %d", tt.first, tt.last, tt.skipBuggy, got, tt.want)
		}
	}
}

// Lowest-free picking must cross the ends of the address space without
// wrapping around.
func TestLowestFreeAtTheTop(t *testing.T) {
	a := newAllocator(t, auto("top4", "255.255.255.254/31"), auto("top6", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"))
	for i, want := range []string{"255.255.255.254", "255.255.255.255"} {
		asg, err := a.Allocate(Request{Service: fmt.Sprintf("ns/v4-%d", i)})
		checkResult(t, asg, err, []string{want}, "top4", nil, "")
	}
	for i, want := range []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} {
		asg, err := a.Allocate(Request{Service: fmt.Sprintf("ns/v6-%d", i), Families: []Family{IPv6}})
		checkResult(t, asg, err, []string{want}, "top6", nil, "")
	}
	_, err := a.Allocate(Request{Service: "ns/more"})
	checkResult(t, Assignment{}, err, nil, "", ErrNoFreeIP, "")
	a.Release("ns/v4-0")
	asg, err := a.Allocate(Request{Service: "ns/more"})
	checkResult(t, asg, err, []string{"255.255.255.254"}, "top4", nil, "")
}
