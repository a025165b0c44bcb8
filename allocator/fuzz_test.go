package allocator

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzParseRange checks that any entry either fails with a readable
// ErrInvalid or yields a range of one family, first <= last, that parses
// back to itself when written "first-last", and that a CIDR's range is the
// prefix's.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{
		"192.0.2.0/24", "192.0.2.7/32", "0.0.0.0/0", "192.0.2.10-192.0.2.20", " 192.0.2.10 - 192.0.2.20 ",
		"2001:db8::/64", "::/0", "2001:db8::1-2001:db8::ff", "192.168.1.20-192.168.1.10", "192.168.1.300",
		"192.0.2.1-2001:db8::1", "fe80::1%eth0-fe80::2", "::ffff:192.0.2.0/120", "-", "", "1.2.3.4/", "/8",
		"192.0.2.1--192.0.2.2", "2001:db8::/129",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, entry string) {
		first, last, err := ParseRange(entry)
		if err != nil {
			if first.IsValid() || last.IsValid() {
				t.Fatalf("ParseRange(%q) failed but returned %v-%v", entry, first, last)
			}
			if !strings.Contains(err.Error(), " ") {
				t.Fatalf("ParseRange(%q) error %q does not read as a sentence", entry, err)
			}
			return
		}
		if !first.IsValid() || !last.IsValid() || first.Is4() != last.Is4() || last.Less(first) {
			t.Fatalf("ParseRange(%q) = %v-%v", entry, first, last)
		}
		if first.Zone() != "" || first.Is4In6() || last.Is4In6() {
			t.Fatalf("ParseRange(%q) = %v-%v: zone or mapped form leaked", entry, first, last)
		}
		f2, l2, err := ParseRange(first.String() + "-" + last.String())
		if err != nil || f2 != first || l2 != last {
			t.Fatalf("round trip of %q: %v-%v, %v", entry, f2, l2, err)
		}
		if p, err := netip.ParsePrefix(strings.TrimSpace(entry)); err == nil && !strings.Contains(entry, "-") {
			p = p.Masked()
			if p.Addr() != first || !p.Contains(last) || (last.Next().IsValid() && p.Contains(last.Next())) {
				t.Fatalf("CIDR %q gave %v-%v", entry, first, last)
			}
		}
		// A pool of that one entry contains both ends and counts them all.
		pool, err := NewPool(PoolSpec{Name: "f", Addresses: []string{entry}})
		if err != nil {
			t.Fatalf("NewPool(%q): %v", entry, err)
		}
		if !pool.Contains(first) || !pool.Contains(last) {
			t.Fatalf("pool %q does not contain its ends", entry)
		}
		if p := first.Prev(); p.IsValid() && pool.Contains(p) {
			t.Fatalf("pool %q contains %v", entry, p)
		}
	})
}

// FuzzRequestedIP checks that a requested address either is refused with
// ErrInvalid / ErrNotInPool or is handed out exactly as its canonical form.
func FuzzRequestedIP(f *testing.F) {
	for _, s := range []string{"192.0.2.7", "192.168.1.300", "2001:db8::1", "::ffff:192.0.2.1", "fe80::1%eth0", " 192.0.2.9", "", "192.0.2.255"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		a := newAllocator(t, PoolSpec{Name: "lan", Addresses: []string{"192.0.2.0/24", "2001:db8::/64"}, AvoidBuggyIPs: true})
		asg, err := a.Allocate(Request{Service: "ns/web", RequestedIPs: []string{raw}})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "service ns/web: ") {
				t.Fatalf("error %q does not name the Service", err)
			}
			return
		}
		ip, perr := netip.ParseAddr(strings.TrimSpace(raw))
		if perr != nil || len(asg.IPs) != 1 || asg.IPs[0] != ip {
			t.Fatalf("requested %q, got %v", raw, asg.IPs)
		}
	})
}

// FuzzRuns drives the run set with adds and removes and compares it with a
// plain map.
func FuzzRuns(f *testing.F) {
	f.Add([]byte{1, 2, 3, 2, 0x81, 4, 5, 0x82})
	f.Add([]byte{255, 0, 0x80, 0xff, 7, 7, 7})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var r runs
		model := map[netip.Addr]bool{}
		for _, op := range ops {
			ip := netip.AddrFrom4([4]byte{192, 0, 2, op & 0x3f})
			if op&0x40 != 0 {
				ip = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: op & 0x3f})
			}
			if op&0x80 != 0 {
				r.remove(ip)
				delete(model, ip)
			} else {
				r.add(ip)
				model[ip] = true
			}
		}
		checkRuns(t, &r, model)
	})
}

func checkRuns(t *testing.T, r *runs, model map[netip.Addr]bool) {
	t.Helper()
	n := 0
	for i, s := range r.spans {
		if s.last.Less(s.first) || s.first.Is4() != s.last.Is4() {
			t.Fatalf("bad span %v", s)
		}
		if i > 0 && (r.spans[i-1].last.Compare(s.first) >= 0 || r.spans[i-1].last.Next() == s.first) {
			t.Fatalf("spans %v and %v overlap or touch", r.spans[i-1], s)
		}
		for ip := s.first; ; ip = ip.Next() {
			if !model[ip] {
				t.Fatalf("run set holds %v, model does not", ip)
			}
			n++
			if ip == s.last {
				break
			}
		}
	}
	if n != len(model) {
		t.Fatalf("run set holds %d addresses, model %d", n, len(model))
	}
	for ip := range model {
		if !r.contains(ip) {
			t.Fatalf("run set lacks %v", ip)
		}
	}
}
