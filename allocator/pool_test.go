package allocator

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		in          string
		first, last string
		err         string
	}{
		{in: "192.0.2.0/24", first: "192.0.2.0", last: "192.0.2.255"},
		{in: "192.0.2.77/24", first: "192.0.2.0", last: "192.0.2.255"}, // host bits masked
		{in: "192.0.2.7/32", first: "192.0.2.7", last: "192.0.2.7"},
		{in: "0.0.0.0/0", first: "0.0.0.0", last: "255.255.255.255"},
		{in: "192.0.2.10-192.0.2.20", first: "192.0.2.10", last: "192.0.2.20"},
		{in: " 192.0.2.10 - 192.0.2.20 ", first: "192.0.2.10", last: "192.0.2.20"},
		{in: "192.0.2.10-192.0.2.10", first: "192.0.2.10", last: "192.0.2.10"},
		{in: "2001:db8::/64", first: "2001:db8::", last: "2001:db8::ffff:ffff:ffff:ffff"},
		{in: "2001:db8::1/120", first: "2001:db8::", last: "2001:db8::ff"},
		{in: "2001:db8::/65", first: "2001:db8::", last: "2001:db8::7fff:ffff:ffff:ffff"},
		{in: "2001:db8::/63", first: "2001:db8::", last: "2001:db8:0:1:ffff:ffff:ffff:ffff"},
		{in: "2001:db8::5/128", first: "2001:db8::5", last: "2001:db8::5"},
		{in: "::/0", first: "::", last: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{in: "2001:db8::10 -2001:db8::20", first: "2001:db8::10", last: "2001:db8::20"},
		{in: "192.168.1.20-192.168.1.10", err: "range 192.168.1.20-192.168.1.10 is reversed; write the lower address first"},
		{in: "192.168.1.300-192.168.1.310", err: "192.168.1.300 is not an IP"},
		{in: "192.168.1.1-192.168.1.300", err: "192.168.1.300 is not an IP"},
		{in: "192.0.2.1-2001:db8::1", err: "mixes IPv4 and IPv6"},
		{in: "192.0.2.0/33", err: `"192.0.2.0/33" is not a CIDR`},
		{in: "192.0.2.1", err: "is a single address; write it as a CIDR (192.0.2.1/32)"},
		{in: "2001:db8::1", err: "(2001:db8::1/128)"},
		{in: "", err: `"" is not an IP`},
		{in: "-", err: `"" is not an IP`},
		{in: "192.0.2.1-", err: `"" is not an IP`},
		{in: "fe80::1%eth0-fe80::2", err: "has a zone"},
		{in: "::ffff:192.0.2.1-::ffff:192.0.2.9", err: "IPv4-mapped"},
		{in: "::ffff:192.0.2.0/120", err: "IPv4-mapped"},
		{in: "192.0.2.1-192.0.2.2-192.0.2.3", err: "has more than one dash"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			first, last, err := ParseRange(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("ParseRange(%q) = %v, %v, %v; want ErrInvalid containing %q", tt.in, first, last, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRange(%q): %v", tt.in, err)
			}
			if first.String() != tt.first || last.String() != tt.last {
				t.Errorf("ParseRange(%q) = %v-%v, want %v-%v", tt.in, first, last, tt.first, tt.last)
			}
		})
	}
}

func TestNewPoolErrors(t *testing.T) {
	tests := []struct {
		name string
		spec PoolSpec
		want string
	}{
		{"reversed", auto("lan", "192.168.1.20-192.168.1.10"), `pool "lan": range 192.168.1.20-192.168.1.10 is reversed; write the lower address first`},
		{"not an IP", auto("lan", "192.168.1.0/24", "192.168.1.300-192.168.1.301"), `pool "lan": 192.168.1.300 is not an IP`},
		{"empty", auto("lan"), `pool "lan" has no addresses`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPool(tt.spec)
			if err == nil || err.Error() != tt.want && !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("NewPool error = %v, want %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
		})
	}
}

func TestPoolContains(t *testing.T) {
	mixed := mustPool(t, auto("mixed", "192.0.2.0/24", "198.51.100.10 - 198.51.100.20", "2001:db8::/64"))
	buggy := mustPool(t, PoolSpec{Name: "buggy", Addresses: []string{"192.0.2.0/23", "2001:db8::/126"}, AvoidBuggyIPs: true})
	tests := []struct {
		pool *Pool
		ip   string
		want bool
	}{
		{mixed, "192.0.2.0", true},
		{mixed, "192.0.2.255", true},
		{mixed, "192.0.3.0", false},
		{mixed, "198.51.100.9", false},
		{mixed, "198.51.100.10", true},
		{mixed, "198.51.100.20", true},
		{mixed, "198.51.100.21", false},
		{mixed, "2001:db8::", true},
		{mixed, "2001:db8::ffff:ffff:ffff:ffff", true},
		{mixed, "2001:db8:0:1::", false},
		{mixed, "::ffff:192.0.2.1", false},
		{buggy, "192.0.2.0", false},
		{buggy, "192.0.2.1", true},
		{buggy, "192.0.2.255", false},
		{buggy, "192.0.3.0", false},
		{buggy, "192.0.3.254", true},
		{buggy, "2001:db8::", true}, // avoidBuggyIPs is about IPv4 only
		{buggy, "2001:db8::ff", false},
	}
	for _, tt := range tests {
		if got := tt.pool.Contains(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("%s.Contains(%s) = %v, want %v", tt.pool.Name(), tt.ip, got, tt.want)
		}
	}
	if (*Pool)(nil).Contains(netip.MustParseAddr("192.0.2.1")) {
		t.Error("a nil pool contains nothing")
	}
}

func TestOverlap(t *testing.T) {
	tests := []struct {
		name string
		a, b PoolSpec
		want string // "" for no overlap
	}{
		{"disjoint", auto("a", "192.0.2.0/25"), auto("b", "192.0.2.128/25"), ""},
		{"touching ranges", auto("a", "192.0.2.0-192.0.2.10"), auto("b", "192.0.2.11-192.0.2.20"), ""},
		{"one address", auto("a", "192.0.2.0-192.0.2.10"), auto("b", "192.0.2.10-192.0.2.20"), "192.0.2.10"},
		{"inside", auto("a", "192.0.2.0/24"), auto("b", "192.0.2.64/26"), "192.0.2.64"},
		{"second range", auto("a", "198.51.100.0/24", "192.0.2.5/32"), auto("b", "192.0.2.0/24"), "192.0.2.5"},
		{"ipv6", auto("a", "2001:db8::/64"), auto("b", "2001:db8::8000:0:0:0-2001:db8:1::"), "2001:db8:0:0:8000::"},
		{"families differ", auto("a", "192.0.2.0/24"), auto("b", "2001:db8::/64"), ""},
		{"only buggy shared", PoolSpec{Name: "a", Addresses: []string{"192.0.2.250-192.0.3.0"}, AvoidBuggyIPs: true}, auto("b", "192.0.2.255-192.0.3.5"), ""},
		{"buggy skipped", PoolSpec{Name: "a", Addresses: []string{"192.0.2.250-192.0.3.5"}, AvoidBuggyIPs: true}, auto("b", "192.0.2.255-192.0.3.5"), "192.0.3.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := mustPool(t, tt.a), mustPool(t, tt.b)
			for _, pair := range [][2]*Pool{{a, b}, {b, a}} {
				ip, ok := Overlap(pair[0], pair[1])
				if tt.want == "" {
					if ok {
						t.Errorf("Overlap(%s, %s) = %v, want none", pair[0].Name(), pair[1].Name(), ip)
					}
					continue
				}
				if !ok || ip.String() != tt.want {
					t.Errorf("Overlap(%s, %s) = %v, %v; want %s", pair[0].Name(), pair[1].Name(), ip, ok, tt.want)
				}
			}
		})
	}
	if _, ok := Overlap(nil, mustPool(t, auto("a", "192.0.2.0/24"))); ok {
		t.Error("Overlap with nil pool reported an address")
	}
}

func TestStats(t *testing.T) {
	tests := []struct {
		name  string
		spec  PoolSpec
		using []string // addresses given to Services
		want  Stats
	}{
		{"ipv4 /24", auto("p", "192.0.2.0/24"), []string{"192.0.2.0", "192.0.2.1"}, Stats{AssignedIPv4: 2, AvailableIPv4: 254}},
		{"avoid buggy", PoolSpec{Name: "p", Addresses: []string{"192.0.2.0/23"}, AvoidBuggyIPs: true}, []string{"192.0.2.1"}, Stats{AssignedIPv4: 1, AvailableIPv4: 511 - 4}},
		{"overlapping entries counted once", auto("p", "192.0.2.0/24", "192.0.2.10-192.0.3.9"), nil, Stats{AvailableIPv4: 266}},
		{"ipv6 /120", auto("p", "2001:db8::/120"), []string{"2001:db8::5"}, Stats{AssignedIPv6: 1, AvailableIPv6: 255}},
		{"ipv6 /64 saturates", auto("p", "2001:db8::/64"), []string{"2001:db8::5"}, Stats{AssignedIPv6: 1, AvailableIPv6: 1<<64 - 1}},
		{"ipv6 /48 saturates", auto("p", "2001:db8::/48", "192.0.2.0/30"), nil, Stats{AvailableIPv4: 4, AvailableIPv6: 1<<64 - 1}},
		{"all of ipv6", auto("p", "::/0"), nil, Stats{AvailableIPv6: 1<<64 - 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAllocator(t, tt.spec)
			for i, ip := range tt.using {
				if _, err := a.Allocate(Request{Service: "ns/s" + strconv.Itoa(i), RequestedIPs: []string{ip}}); err != nil {
					t.Fatal(err)
				}
			}
			if got := a.Stats()["p"]; got != tt.want {
				t.Errorf("Stats = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// addressGrammar is api/v1alpha1/testdata/addresses.json, the table of pool
// entries that the CRD's CEL rules (hack/tools/crdcheck) and ParseRange
// must judge alike.
type addressGrammar struct {
	Entries []struct {
		Address    string `json:"address"`
		Want       string `json:"want"`
		APIAccepts bool   `json:"apiAccepts"`
	} `json:"entries"`
}

func TestParseRangeAgreesWithTheAPIGrammar(t *testing.T) {
	data, err := os.ReadFile("../api/v1alpha1/testdata/addresses.json")
	if err != nil {
		t.Fatal(err)
	}
	var g addressGrammar
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	for _, e := range g.Entries {
		_, _, err := ParseRange(e.Address)
		switch {
		case e.Want == "ok" && err != nil:
			t.Errorf("ParseRange(%q) = %v; the table says it is valid", e.Address, err)
		case e.Want != "ok" && (err == nil || !strings.Contains(err.Error(), e.Want)):
			t.Errorf("ParseRange(%q) = %v; want an error containing %q", e.Address, err, e.Want)
		}
	}
}
