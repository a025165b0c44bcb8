package l2

import (
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/bpf"
)

// The filters run in the x/net/bpf VM, which has no packet type extension;
// the VM tests cover everything after that first check.
func vmFor(t *testing.T, prog []bpf.Instruction) *bpf.VM {
	t.Helper()
	if _, err := bpf.Assemble(prog); err != nil {
		t.Fatalf("filter does not assemble: %v", err)
	}
	if len(prog) > 4096 {
		t.Fatalf("filter has %d instructions, the kernel allows 4096", len(prog))
	}
	vm, err := bpf.NewVM(prog[3:]) // skip the PACKET_OUTGOING check
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

func TestARPFilter(t *testing.T) {
	many := make([]netip.Addr, 0, maxFilteredIPv4+1)
	for i := range maxFilteredIPv4 + 1 {
		many = append(many, netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}))
	}
	most := many[:maxFilteredIPv4]
	snm, _ := ndp.SolicitedNodeMulticast(heldV6)
	tests := []struct {
		name  string
		held  []netip.Addr
		frame []byte
		pass  bool
	}{
		{"request for held VIP", []netip.Addr{heldV4, heldV6}, mustARP(t, arp.OperationRequest, clientMAC, clientV4, ethZero, heldV4, ethBroadcast), true},
		{"request for other address", []netip.Addr{heldV4}, mustARP(t, arp.OperationRequest, clientMAC, clientV4, ethZero, otherV4, ethBroadcast), false},
		{"gratuitous reply for held VIP", []netip.Addr{otherV4, heldV4}, mustARP(t, arp.OperationReply, rivalMAC, heldV4, ethBroadcast, heldV4, ethBroadcast), true},
		{"nothing held", nil, mustARP(t, arp.OperationRequest, clientMAC, clientV4, ethZero, heldV4, ethBroadcast), false},
		{"IPv6 frame on the ARP socket", []netip.Addr{heldV4}, nsFrame(t, clientMAC, clientV6, snm, heldV6, true, 255), false},
		{"request for the last of the most VIPs filtered", most, mustARP(t, arp.OperationRequest, clientMAC, clientV4, ethZero, most[len(most)-1], ethBroadcast), true},
		{"request for other address with the most VIPs", most, mustARP(t, arp.OperationRequest, clientMAC, clientV4, ethZero, otherV4, ethBroadcast), false},
		{"too many VIPs: pass all ARP", many, mustARP(t, arp.OperationRequest, clientMAC, clientV4, ethZero, otherV4, ethBroadcast), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := vmFor(t, arpFilter(tt.held)).Run(tt.frame)
			if err != nil {
				t.Fatal(err)
			}
			if (n > 0) != tt.pass {
				t.Errorf("filter returned %d, want pass=%v", n, tt.pass)
			}
		})
	}
}

func TestNDPFilter(t *testing.T) {
	snm, _ := ndp.SolicitedNodeMulticast(heldV6)
	many := make([]netip.Addr, 0, maxFilteredIPv6)
	for i := range maxFilteredIPv6 {
		many = append(many, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 14: 1}))
	}
	many = append(many, heldV6)
	nearly := netip.MustParseAddr("2001:db8::1:10") // differs from heldV6 in the last word
	sameLow := netip.MustParseAddr("2001:db9::10")  // differs only above the last word
	tests := []struct {
		name  string
		held  []netip.Addr
		frame []byte
		pass  bool
	}{
		{"NS for held VIP", []netip.Addr{heldV4, heldV6}, nsFrame(t, clientMAC, clientV6, snm, heldV6, true, 255), true},
		{"NS for held VIP, last of many", many[len(many)-maxFilteredIPv6:], nsFrame(t, clientMAC, clientV6, snm, heldV6, true, 255), true},
		{"NS for an address one word off", []netip.Addr{heldV6}, nsFrame(t, clientMAC, clientV6, snm, nearly, true, 255), false},
		{"NS for an address with the same last word: user space decides", []netip.Addr{heldV6}, nsFrame(t, clientMAC, clientV6, snm, sameLow, true, 255), true},
		{"NS for other address", []netip.Addr{heldV6}, nsFrame(t, clientMAC, clientV6, snm, otherV6, true, 255), false},
		{"NS from held VIP", []netip.Addr{heldV6}, nsFrame(t, rivalMAC, heldV6, snm, clientV6, true, 255), true},
		{"NA for held VIP", []netip.Addr{heldV6}, ipv6Frame(t, &ndp.NeighborAdvertisement{TargetAddress: heldV6, Override: true}, rivalMAC, heldV6, allNodes, 255), true},
		{"router solicitation", []netip.Addr{heldV6}, ipv6Frame(t, &ndp.RouterSolicitation{}, rivalMAC, heldV6, allNodes, 255), false},
		{"ARP frame", []netip.Addr{heldV4, heldV6}, mustARP(t, arp.OperationRequest, clientMAC, clientV4, ethZero, heldV4, ethBroadcast), false},
		{"too many VIPs: pass all NS", many, nsFrame(t, clientMAC, clientV6, snm, otherV6, true, 255), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := vmFor(t, ndpFilter(tt.held)).Run(tt.frame)
			if err != nil {
				t.Fatal(err)
			}
			if (n > 0) != tt.pass {
				t.Errorf("filter returned %d, want pass=%v", n, tt.pass)
			}
		})
	}
}
