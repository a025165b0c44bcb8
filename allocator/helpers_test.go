package allocator

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

func mustPool(t testing.TB, spec PoolSpec) *Pool {
	t.Helper()
	p, err := NewPool(spec)
	if err != nil {
		t.Fatalf("NewPool(%q): %v", spec.Name, err)
	}
	return p
}

// auto is a pool spec that auto-assigns, the common case.
func auto(name string, addrs ...string) PoolSpec {
	return PoolSpec{Name: name, Addresses: addrs, AutoAssign: true}
}

func newAllocator(t testing.TB, specs ...PoolSpec) *Allocator {
	t.Helper()
	a := New()
	var pools []*Pool
	for _, s := range specs {
		pools = append(pools, mustPool(t, s))
	}
	if orphans := a.SetPools(pools); len(orphans) != 0 {
		t.Fatalf("SetPools on an empty allocator orphaned %v", orphans)
	}
	return a
}

func sel(t testing.TB, s string) labels.Selector {
	t.Helper()
	out, err := labels.Parse(s)
	if err != nil {
		t.Fatalf("labels.Parse(%q): %v", s, err)
	}
	return out
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func ipStrings(ips []netip.Addr) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

// checkResult compares an allocation result with the expected IPs, pool
// and error (a sentinel plus a fragment of the message).
func checkResult(t *testing.T, asg Assignment, err error, wantIPs []string, wantPool string, wantErr error, wantMsg string) {
	t.Helper()
	if wantErr != nil || wantMsg != "" {
		if err == nil {
			t.Fatalf("got %v from pool %q, want error %v %q", ipStrings(asg.IPs), asg.Pool, wantErr, wantMsg)
		}
		if wantErr != nil && !errors.Is(err, wantErr) {
			t.Errorf("error %q is not %v", err, wantErr)
		}
		if !strings.Contains(err.Error(), wantMsg) {
			t.Errorf("error %q does not contain %q", err, wantMsg)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if got := ipStrings(asg.IPs); wantIPs != nil && !slices.Equal(got, wantIPs) {
		t.Errorf("IPs = %v, want %v", got, wantIPs)
	}
	if wantPool != "" && asg.Pool != wantPool {
		t.Errorf("pool = %q, want %q", asg.Pool, wantPool)
	}
}
