package l2

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
)

// FuzzReceive drives raw bytes through the whole receive path (both
// decision functions, as the filters may pass anything in the fallback mode)
// and checks what must hold for any input: no panic, replies only for held
// VIPs and only from our MAC, claims only for held VIPs and never by us.
// The seed corpus in testdata/fuzz/FuzzReceive is a real capture made in test
// namespaces by testdata/capture.sh (arping, ping, ndisc6, and two
// announcers taking a VIP over from each other); the port below is announcer
// A of that capture, so its own frames, the client's requests and B's
// claims all appear.
func FuzzReceive(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 60))
	mac := net.HardwareAddr{0xc6, 0xa4, 0x1e, 0xbc, 0x58, 0x79}
	p := &ifaceView{
		name: "eth0",
		mac:  mac,
		held: toSet([]netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")}),
		ours: map[[6]byte]struct{}{[6]byte(mac): {}},
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		in := bytes.Clone(frame)
		for _, handle := range []func(*ifaceView, []byte) decision{handleARP, handleNDP} {
			d := handle(p, frame)
			if !bytes.Equal(in, frame) {
				t.Fatal("the receive path modified the frame")
			}
			switch d.verdict {
			case claimed:
				if !p.holds(d.claim.IP) || p.isOurs(d.claim.MAC) || len(d.claim.MAC) != 6 {
					t.Fatalf("claim %+v: for a VIP not held, or by us", d.claim)
				}
			case answered:
				checkReply(t, p, d.reply)
			default:
				if d.reply != nil {
					t.Fatalf("verdict %d with a reply", d.verdict)
				}
			}
		}
	})
}

func checkReply(t *testing.T, p *ifaceView, r []byte) {
	t.Helper()
	if len(r) < ethHeaderLen || !bytes.Equal(r[6:12], p.mac) {
		t.Fatalf("reply not from our MAC: %x", r)
	}
	switch {
	case r[12] == 0x08 && r[13] == 0x06:
		var pkt arp.Packet
		if err := pkt.UnmarshalBinary(r[ethHeaderLen:]); err != nil {
			t.Fatalf("our ARP reply does not parse: %v", err)
		}
		if pkt.Operation != arp.OperationReply || !p.holds(pkt.SenderIP) || !bytes.Equal(pkt.SenderHardwareAddr, p.mac) {
			t.Fatalf("ARP reply %+v not for a held VIP from our MAC", pkt)
		}
	case r[12] == 0x86 && r[13] == 0xdd:
		ip6 := r[ethHeaderLen:]
		src, dst := netip.AddrFrom16([16]byte(ip6[8:24])), netip.AddrFrom16([16]byte(ip6[24:40]))
		if !validChecksum(src, dst, ip6[ipv6HeaderLen:]) {
			t.Fatal("our NA has a bad checksum")
		}
		m, err := ndp.ParseMessage(ip6[ipv6HeaderLen:])
		if err != nil {
			t.Fatalf("our NA does not parse: %v", err)
		}
		na, ok := m.(*ndp.NeighborAdvertisement)
		if !ok || !p.holds(na.TargetAddress) || !na.Override || !bytes.Equal(linkLayerOption(na.Options, ndp.Target), p.mac) {
			t.Fatalf("reply %+v is not an NA for a held VIP with our MAC", m)
		}
		if dst.IsMulticast() && na.Solicited {
			t.Fatal("solicited NA to a multicast address")
		}
	default:
		t.Fatalf("reply of unknown ether type: %x", r)
	}
}

// The captured seeds must exercise every verdict, or the corpus has gone stale.
func TestCaptureCoversVerdicts(t *testing.T) {
	mac := net.HardwareAddr{0xc6, 0xa4, 0x1e, 0xbc, 0x58, 0x79}
	p := &ifaceView{name: "eth0", mac: mac,
		held: toSet([]netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")}),
		ours: map[[6]byte]struct{}{[6]byte(mac): {}}}
	frames, err := readPcap("testdata/capture.pcap")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, fr := range frames {
		h := handleNDP
		if fr[12] == 0x08 {
			h = handleARP
		}
		d := h(p, fr)
		fam := "v6"
		if fr[12] == 0x08 {
			fam = "v4"
		}
		seen[fam+map[verdict]string{ignored: "ignored", answered: "answered", claimed: "claimed", malformed: "malformed"}[d.verdict]]++
	}
	for _, want := range []string{"v4answered", "v4claimed", "v4ignored", "v6answered", "v6claimed", "v6ignored"} {
		if seen[want] == 0 {
			t.Errorf("capture has no %s frame: %v", want, seen)
		}
	}
}
