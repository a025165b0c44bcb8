package l2

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
)

var (
	ourMAC    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xaa}
	otherOurs = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xab} // another interface of this host
	clientMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	rivalMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xbb}

	heldV4   = netip.MustParseAddr("192.0.2.10")
	otherV4  = netip.MustParseAddr("192.0.2.11")
	clientV4 = netip.MustParseAddr("192.0.2.100")
	heldV6   = netip.MustParseAddr("2001:db8::10")
	otherV6  = netip.MustParseAddr("2001:db8::11")
	clientV6 = netip.MustParseAddr("2001:db8::100")
	clientLL = netip.MustParseAddr("fe80::1")
)

func testPort() *ifaceView {
	return &ifaceView{
		name: "eth0",
		mac:  ourMAC,
		held: toSet([]netip.Addr{heldV4, heldV6}),
		ours: map[[6]byte]struct{}{[6]byte(ourMAC): {}, [6]byte(otherOurs): {}},
	}
}

func mustARP(t testing.TB, op arp.Operation, sha net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr, ethDst net.HardwareAddr) []byte {
	t.Helper()
	f, err := arpFrame(op, sha, spa, tha, tpa, ethDst)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestHandleARP(t *testing.T) {
	req := func(sha net.HardwareAddr, spa, tpa netip.Addr, ethDst net.HardwareAddr) []byte {
		return mustARP(t, arp.OperationRequest, sha, spa, ethZero, tpa, ethDst)
	}
	tests := []struct {
		name  string
		frame []byte
		want  verdict
		claim Claim
		drop  dropReason // the rule that fired, for ignored and malformed frames
	}{
		{"broadcast request for held VIP", req(clientMAC, clientV4, heldV4, ethBroadcast), answered, Claim{}, dropNone},
		{"unicast request to our MAC (refresh)", req(clientMAC, clientV4, heldV4, ourMAC), answered, Claim{}, dropNone},
		{"unicast request to another host", req(clientMAC, clientV4, heldV4, rivalMAC), ignored, Claim{}, dropUnicastElsewhere},
		{"ARP probe (RFC 5227) for held VIP is defended", req(clientMAC, netip.IPv4Unspecified(), heldV4, ethBroadcast), answered, Claim{}, dropNone},
		{"request for VIP not held", req(clientMAC, clientV4, otherV4, ethBroadcast), ignored, Claim{}, dropNotHeld},
		{"our own request, looped back", req(ourMAC, heldV4, clientV4, ethBroadcast), ignored, Claim{}, dropOwnFrame},
		{"frame from another interface of ours", req(otherOurs, clientV4, heldV4, ethBroadcast), ignored, Claim{}, dropOwnFrame},
		{"gratuitous request from a rival", req(rivalMAC, heldV4, heldV4, ethBroadcast), claimed, Claim{heldV4, rivalMAC, "eth0"}, dropNone},
		{"gratuitous reply from a rival", mustARP(t, arp.OperationReply, rivalMAC, heldV4, ethBroadcast, heldV4, ethBroadcast), claimed, Claim{heldV4, rivalMAC, "eth0"}, dropNone},
		{"rival asks using our VIP as source", req(rivalMAC, heldV4, clientV4, ethBroadcast), claimed, Claim{heldV4, rivalMAC, "eth0"}, dropNone},
		{"our own gratuitous ARP", mustARP(t, arp.OperationReply, ourMAC, heldV4, ethBroadcast, heldV4, ethBroadcast), ignored, Claim{}, dropOwnFrame},
		{"gratuitous ARP for a VIP not held", mustARP(t, arp.OperationReply, rivalMAC, otherV4, ethBroadcast, otherV4, ethBroadcast), ignored, Claim{}, dropNotHeld},
		{"reply to someone about our VIP", mustARP(t, arp.OperationReply, rivalMAC, clientV4, clientMAC, heldV4, clientMAC), ignored, Claim{}, dropNotAClaim},
		{"our MAC as ARP sender behind another Ethernet source", func() []byte {
			f := req(ourMAC, clientV4, heldV4, ethBroadcast)
			copy(f[6:12], clientMAC)
			return f
		}(), ignored, Claim{}, dropOwnSender},
		{"truncated", req(clientMAC, clientV4, heldV4, ethBroadcast)[:30], malformed, Claim{}, dropBadLength},
		{"oversized", append(req(clientMAC, clientV4, heldV4, ethBroadcast), make([]byte, maxFrameLen)...), malformed, Claim{}, dropBadLength},
		{"wrong hardware type", func() []byte {
			f := req(clientMAC, clientV4, heldV4, ethBroadcast)
			f[ethHeaderLen+1] = 6
			return f
		}(), malformed, Claim{}, dropNotEthernetIP},
		{"unknown operation", func() []byte {
			f := req(clientMAC, clientV4, heldV4, ethBroadcast)
			f[ethHeaderLen+7] = 9
			return f
		}(), malformed, Claim{}, dropBadOperation},
		{"not ARP", func() []byte {
			f := req(clientMAC, clientV4, heldV4, ethBroadcast)
			f[12] = 0x08
			f[13] = 0x00
			return f
		}(), malformed, Claim{}, dropBadEtherType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := handleARP(testPort(), tt.frame)
			if d.verdict != tt.want || d.drop != tt.drop {
				t.Fatalf("verdict %s (%s), want %s (%s)", d.verdict, d.drop, tt.want, tt.drop)
			}
			if tt.want == claimed && (d.claim.IP != tt.claim.IP || !bytes.Equal(d.claim.MAC, tt.claim.MAC) || d.claim.Interface != tt.claim.Interface) {
				t.Errorf("claim %+v, want %+v", d.claim, tt.claim)
			}
			if tt.want != answered {
				if d.reply != nil {
					t.Errorf("unexpected reply %x", d.reply)
				}
				return
			}
			var in, out arp.Packet
			_ = in.UnmarshalBinary(tt.frame[ethHeaderLen:])
			if err := out.UnmarshalBinary(d.reply[ethHeaderLen:]); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(d.reply[0:6], tt.frame[6:12]) || !bytes.Equal(d.reply[6:12], ourMAC) {
				t.Errorf("reply Ethernet %s -> %s, want %s -> %s", net.HardwareAddr(d.reply[6:12]), net.HardwareAddr(d.reply[0:6]), ourMAC, net.HardwareAddr(tt.frame[6:12]))
			}
			if out.Operation != arp.OperationReply || !bytes.Equal(out.SenderHardwareAddr, ourMAC) || out.SenderIP != in.TargetIP ||
				!bytes.Equal(out.TargetHardwareAddr, in.SenderHardwareAddr) || out.TargetIP != in.SenderIP {
				t.Errorf("reply %+v does not answer %+v from %s", out, in, ourMAC)
			}
		})
	}
}

// nsFrame builds a Neighbor Solicitation as a client would send it.
func nsFrame(t testing.TB, srcMAC net.HardwareAddr, src, dst netip.Addr, target netip.Addr, slla bool, hop byte) []byte {
	t.Helper()
	ns := &ndp.NeighborSolicitation{TargetAddress: target}
	if slla {
		ns.Options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: srcMAC}}
	}
	return ipv6Frame(t, ns, srcMAC, src, dst, hop)
}

func ipv6Frame(t testing.TB, m ndp.Message, srcMAC net.HardwareAddr, src, dst netip.Addr, hop byte) []byte {
	t.Helper()
	body, err := ndp.MarshalMessageChecksum(m, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	dstMAC := ourMAC
	if dst.IsMulticast() {
		b := dst.As16()
		dstMAC = net.HardwareAddr{0x33, 0x33, b[12], b[13], b[14], b[15]}
	}
	f := make([]byte, ethHeaderLen+ipv6HeaderLen+len(body))
	copy(f[0:6], dstMAC)
	copy(f[6:12], srcMAC)
	binary.BigEndian.PutUint16(f[12:14], etherTypeIPv6)
	ip6 := f[ethHeaderLen:]
	ip6[0] = 0x60
	binary.BigEndian.PutUint16(ip6[4:6], uint16(len(body)))
	ip6[6], ip6[7] = protoICMPv6, hop
	s, d := src.As16(), dst.As16()
	copy(ip6[8:24], s[:])
	copy(ip6[24:40], d[:])
	copy(ip6[40:], body)
	return f
}

func TestHandleNDP(t *testing.T) {
	snm, _ := ndp.SolicitedNodeMulticast(heldV6)
	na := func(srcMAC net.HardwareAddr, target netip.Addr, tlla net.HardwareAddr, solicited bool, dst netip.Addr) []byte {
		m := &ndp.NeighborAdvertisement{TargetAddress: target, Override: true, Solicited: solicited}
		if tlla != nil {
			m.Options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: tlla}}
		}
		return ipv6Frame(t, m, srcMAC, target, dst, 255)
	}
	type want struct {
		v         verdict
		drop      dropReason
		to        netip.Addr
		toMAC     net.HardwareAddr
		solicited bool
		claimMAC  net.HardwareAddr
	}
	tests := []struct {
		name  string
		frame []byte
		want  want
	}{
		{"multicast NS with SLLA from link-local", nsFrame(t, clientMAC, clientLL, snm, heldV6, true, 255), want{v: answered, to: clientLL, toMAC: clientMAC, solicited: true}},
		{"multicast NS without SLLA from global", nsFrame(t, clientMAC, clientV6, snm, heldV6, false, 255), want{v: answered, to: clientV6, toMAC: clientMAC, solicited: true}},
		{"unicast NS (NUD probe) to the VIP", nsFrame(t, clientMAC, clientV6, heldV6, heldV6, false, 255), want{v: answered, to: clientV6, toMAC: clientMAC, solicited: true}},
		{"DAD probe from :: answered to all-nodes", nsFrame(t, clientMAC, netip.IPv6Unspecified(), snm, heldV6, false, 255), want{v: answered, to: allNodes, toMAC: allNodesMAC, solicited: false}},
		{"DAD probe with SLLA is invalid", nsFrame(t, clientMAC, netip.IPv6Unspecified(), snm, heldV6, true, 255), want{v: malformed, drop: dropBadSolicit}},
		{"DAD probe to a unicast address is invalid", nsFrame(t, clientMAC, netip.IPv6Unspecified(), heldV6, heldV6, false, 255), want{v: malformed, drop: dropBadSolicit}},
		{"NS for a VIP not held", nsFrame(t, clientMAC, clientV6, snm, otherV6, true, 255), want{v: ignored, drop: dropNotHeld}},
		{"NS with hop limit below 255 (off-link)", nsFrame(t, clientMAC, clientV6, snm, heldV6, true, 64), want{v: malformed, drop: dropBadNDP}},
		{"our own NS", nsFrame(t, ourMAC, clientV6, snm, heldV6, true, 255), want{v: ignored, drop: dropOwnFrame}},
		{"bad checksum", func() []byte {
			f := nsFrame(t, clientMAC, clientV6, snm, heldV6, true, 255)
			f[ethHeaderLen+ipv6HeaderLen+2] ^= 0xff
			return f
		}(), want{v: malformed, drop: dropBadNDP}},
		{"truncated payload length", func() []byte {
			f := nsFrame(t, clientMAC, clientV6, snm, heldV6, true, 255)
			binary.BigEndian.PutUint16(f[ethHeaderLen+4:], 200)
			return f
		}(), want{v: malformed, drop: dropTruncated}},
		{"unsolicited NA from a rival", na(rivalMAC, heldV6, rivalMAC, false, allNodes), want{v: claimed, claimMAC: rivalMAC}},
		{"NA without TLLA from a rival uses the frame source", na(rivalMAC, heldV6, nil, false, allNodes), want{v: claimed, claimMAC: rivalMAC}},
		{"our own NA", na(ourMAC, heldV6, ourMAC, false, allNodes), want{v: ignored, drop: dropOwnFrame}},
		{"NA naming our MAC relayed by another", na(rivalMAC, heldV6, otherOurs, false, allNodes), want{v: ignored, drop: dropOwnSender}},
		{"NA for a VIP not held", na(rivalMAC, otherV6, rivalMAC, false, allNodes), want{v: ignored, drop: dropNotHeld}},
		{"solicited NA to multicast is invalid", na(rivalMAC, heldV6, rivalMAC, true, allNodes), want{v: ignored, drop: dropNotAClaim}},
		{"NS from our VIP by a rival", nsFrame(t, rivalMAC, heldV6, snm, clientV6, true, 255), want{v: claimed, claimMAC: rivalMAC}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := handleNDP(testPort(), tt.frame)
			if d.verdict != tt.want.v || d.drop != tt.want.drop {
				t.Fatalf("verdict %s (%s), want %s (%s)", d.verdict, d.drop, tt.want.v, tt.want.drop)
			}
			if tt.want.v == claimed && !bytes.Equal(d.claim.MAC, tt.want.claimMAC) {
				t.Errorf("claim MAC %s, want %s", d.claim.MAC, tt.want.claimMAC)
			}
			if tt.want.v != answered {
				return
			}
			r := d.reply
			if !bytes.Equal(r[0:6], tt.want.toMAC) || !bytes.Equal(r[6:12], ourMAC) {
				t.Errorf("reply Ethernet %s -> %s, want %s -> %s", net.HardwareAddr(r[6:12]), net.HardwareAddr(r[0:6]), ourMAC, tt.want.toMAC)
			}
			ip6 := r[ethHeaderLen:]
			src, dst := netip.AddrFrom16([16]byte(ip6[8:24])), netip.AddrFrom16([16]byte(ip6[24:40]))
			if dst != tt.want.to || ip6[7] != 255 || src != heldV6 {
				t.Errorf("reply IPv6 %s -> %s hop %d, want %s -> %s hop 255", src, dst, ip6[7], heldV6, tt.want.to)
			}
			if !validChecksum(src, dst, ip6[ipv6HeaderLen:]) {
				t.Error("reply checksum invalid")
			}
			m, err := ndp.ParseMessage(ip6[ipv6HeaderLen:])
			if err != nil {
				t.Fatal(err)
			}
			got, ok := m.(*ndp.NeighborAdvertisement)
			if !ok || got.TargetAddress != heldV6 || got.Solicited != tt.want.solicited || !got.Override || got.Router {
				t.Fatalf("reply %+v, want NA for %s S=%v O=true R=false", m, heldV6, tt.want.solicited)
			}
			if tlla := linkLayerOption(got.Options, ndp.Target); !bytes.Equal(tlla, ourMAC) {
				t.Errorf("target link-layer option %s, want %s", tlla, ourMAC)
			}
		})
	}
}

func TestGratuitous(t *testing.T) {
	frames, err := gratuitousARP(ourMAC, heldV4)
	if err != nil {
		t.Fatal(err)
	}
	wantOps := []arp.Operation{arp.OperationRequest, arp.OperationReply}
	for i, f := range frames {
		var p arp.Packet
		if err := p.UnmarshalBinary(f[ethHeaderLen:]); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f[0:6], ethBroadcast) || p.Operation != wantOps[i] || p.SenderIP != heldV4 || p.TargetIP != heldV4 || !bytes.Equal(p.SenderHardwareAddr, ourMAC) {
			t.Errorf("gratuitous frame %d: %+v to %s", i, p, net.HardwareAddr(f[0:6]))
		}
		// A rival seeing this frame would report it as a claim; so would we
		// if it came from another MAC.
		other := &ifaceView{name: "eth0", mac: rivalMAC, held: toSet([]netip.Addr{heldV4}), ours: map[[6]byte]struct{}{[6]byte(rivalMAC): {}}}
		if d := handleARP(other, f); d.verdict != claimed || !bytes.Equal(d.claim.MAC, ourMAC) {
			t.Errorf("a rival holding %s sees gratuitous frame %d as %+v, want a claim by %s", heldV4, i, d, ourMAC)
		}
	}
	na, err := unsolicitedNA(testPort(), heldV6)
	if err != nil {
		t.Fatal(err)
	}
	other := &ifaceView{name: "eth0", mac: rivalMAC, held: toSet([]netip.Addr{heldV6}), ours: map[[6]byte]struct{}{[6]byte(rivalMAC): {}}}
	if d := handleNDP(other, na); d.verdict != claimed || !bytes.Equal(d.claim.MAC, ourMAC) {
		t.Errorf("a rival sees our unsolicited NA as %+v, want a claim by %s", d, ourMAC)
	}
	if !bytes.Equal(na[0:6], allNodesMAC) {
		t.Errorf("unsolicited NA to %s, want %s", net.HardwareAddr(na[0:6]), allNodesMAC)
	}
}
