package l2

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestProbeCount tables the count of unanswered probes: silence after
// three in a row, dated by the first; a reply starts again; rounds that
// could send nothing count nothing; the host is silent only when every round
// of the run asked for one of its addresses too.
func TestProbeCount(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type round struct {
		at       int
		sent     bool
		host     bool // this round asked for a node address too
		answered bool // a reply arrived before this round
		silent   bool
		since    int
		hostGone bool // silence reported with HostSilent
	}
	for _, tc := range []struct {
		name   string
		rounds []round
	}{
		{"three unanswered", []round{{0, true, false, false, false, 0, false}, {100, true, false, false, false, 0, false}, {200, true, false, false, false, 0, false}, {300, true, false, false, true, 0, false}, {400, true, false, false, true, 0, false}}},
		{"three unanswered, node addresses too", []round{{0, true, true, false, false, 0, false}, {100, true, true, false, false, 0, false}, {200, true, true, false, false, 0, false}, {300, true, true, false, true, 0, true}}},
		{"one round without a node address", []round{{0, true, true, false, false, 0, false}, {100, true, false, false, false, 0, false}, {200, true, true, false, false, 0, false}, {300, true, true, false, true, 0, false}}},
		{"a reply starts again", []round{{0, true, false, false, false, 0, false}, {100, true, false, false, false, 0, false}, {200, true, false, true, false, 0, false}, {300, true, false, false, false, 0, false}, {400, true, false, false, false, 0, false}, {500, true, false, false, true, 200, false}}},
		{"a reply starts the host count again", []round{{0, true, false, false, false, 0, false}, {100, true, true, true, false, 0, false}, {200, true, true, false, false, 0, false}, {300, true, true, false, false, 0, false}, {400, true, true, false, true, 100, true}}},
		{"nothing sent, nothing counted", []round{{0, false, false, false, false, 0, false}, {100, false, false, false, false, 0, false}, {200, false, false, false, false, 0, false}, {300, false, false, false, false, 0, false}}},
		{"a late reply clears silence", []round{{0, true, true, false, false, 0, false}, {100, true, true, false, false, 0, false}, {200, true, true, false, false, 0, false}, {300, true, true, false, true, 0, true}, {400, true, true, true, false, 0, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c probeCount
			for _, r := range tc.rounds {
				if r.answered {
					c.answered()
				}
				silent, since, host := c.round(ms(r.at), 3, r.sent, r.host)
				if silent != r.silent || silent && !since.Equal(ms(r.since)) || host != r.hostGone {
					t.Errorf("round at %d ms: silent %v since %v host %v, want %v since %d ms host %v", r.at, silent, since.Sub(t0), host, r.silent, r.since, r.hostGone)
				}
			}
		})
	}
}

var holderMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xbb}

// TestProbeAgainstHolder probes a holder that is a real Announcer: its
// answers (from handleARP and handleNS, unchanged) report it alive; when it
// stops answering, three rounds later it is reported silent, dated by the
// first unanswered probe.
func TestProbeAgainstHolder(t *testing.T) {
	for _, ip := range []netip.Addr{heldV4, heldV6} {
		t.Run(ip.String(), func(t *testing.T) {
			hsys := newFakeSystem(Link{Name: "eth0", Index: 2, MAC: holderMAC, Up: true, Prefixes: eth0().Prefixes})
			holder, _, _ := newTestAnnouncer(t, hsys, 0)
			defer holder.Close()
			holder.Set([]Announcement{{Group: "vip-192.0.2.10", IPs: []netip.Addr{heldV4, heldV6}}})
			hc := hsys.conn("eth0")
			hc.take()

			psys := newFakeSystem(eth0())
			prober, clk, _ := newTestAnnouncer(t, psys, 0)
			defer prober.Close()
			prober.Probe([]ProbeTarget{{Node: "holder", IP: ip, MACs: []net.HardwareAddr{holderMAC}}})

			in := func(c *fakeConn) chan []byte {
				if ip.Is4() {
					return c.in4
				}
				return c.in6
			}
			// round waits for the prober's next round and returns the
			// probes it sent.
			round := func() [][]byte {
				t.Helper()
				var got [][]byte
				eventually(t, func() bool {
					clk.Step(DefaultProbeInterval)
					c := psys.conn("eth0")
					if c == nil {
						return false
					}
					got = c.take()
					return len(got) > 0
				}, "a probe round")
				return got
			}
			probes := round()
			if len(probes) != 1 {
				t.Fatalf("%d probe frames, want 1", len(probes))
			}
			if dst := net.HardwareAddr(probes[0][0:6]); dst.String() != holderMAC.String() {
				t.Errorf("probe sent to %s, want unicast to the holder %s", dst, holderMAC)
			}
			// The holder answers it like any request.
			in(hc) <- probes[0]
			var reply []byte
			eventually(t, func() bool {
				for _, f := range hc.take() {
					if net.HardwareAddr(f[0:6]).String() == ourMAC.String() {
						reply = f
					}
				}
				return reply != nil
			}, "the holder's answer")
			in(psys.conn("eth0")) <- reply
			select {
			case r := <-prober.ProbeResults():
				if r.Node != "holder" || !r.Alive {
					t.Fatalf("result %+v, want holder alive", r)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no result for the holder's answer")
			}
			family := familyIPv4
			if ip.Is6() {
				family = familyIPv6
			}
			if n := testutil.ToFloat64(prober.m.probeReplies.WithLabelValues("eth0", family)); n != 1 {
				t.Errorf("probe_replies_total = %v, want 1", n)
			}

			// Now it answers nothing: silence, dated by a probe sent
			// after the answer, at least three rounds before the report.
			answeredAt := clk.Now()
			for range 4 {
				round()
			}
			select {
			case r := <-prober.ProbeResults():
				if r.Node != "holder" || r.Alive || r.SilentSince.Before(answeredAt) || clk.Now().Sub(r.SilentSince) < 3*DefaultProbeInterval {
					t.Fatalf("result %+v at %v, want holder silent since a probe sent after %v, three rounds ago", r, clk.Now(), answeredAt)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no silence reported after three unanswered probes")
			}
			if n := testutil.ToFloat64(prober.m.probes.WithLabelValues("eth0", family)); n < 5 {
				t.Errorf("probes_sent_total = %v, want at least 5", n)
			}

			// An empty set closes the probe sockets.
			c := psys.conn("eth0")
			prober.Probe(nil)
			eventually(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.closed }, "probe sockets closed")
		})
	}
}

// TestProbeReplyIgnoresOthers: what is not an answer from a holder is not
// taken for one.
func TestProbeReplyIgnoresOthers(t *testing.T) {
	req, _ := arpFrame(1, holderMAC, heldV4, ethZero, heldV4, ethBroadcast)
	if _, _, ok := probeReply(req); ok {
		t.Error("an ARP request taken for a reply")
	}
	rep, _ := arpFrame(2, holderMAC, heldV4, ourMAC, netip.IPv4Unspecified(), ourMAC)
	if ip, mac, ok := probeReply(rep); !ok || ip != heldV4 || mac.String() != holderMAC.String() {
		t.Errorf("ARP reply read as %v %v %v", ip, mac, ok)
	}
	ns, _ := probeFrame(eth0(), heldV6, holderMAC)
	if _, _, ok := probeReply(ns); ok {
		t.Error("a Neighbor Solicitation taken for an advertisement")
	}
	hv := &ifaceView{mac: holderMAC}
	grat, _ := gratuitousARP(holderMAC, heldV4)
	for _, f := range grat {
		if _, _, ok := probeReply(f); ok {
			t.Error("gratuitous ARP taken for an answer to a probe")
		}
	}
	unsol, _ := unsolicitedNA(hv, heldV6)
	if _, _, ok := probeReply(unsol); ok {
		t.Error("an unsolicited advertisement taken for an answer to a probe")
	}
	na, _ := ndpFrame(hv, &ndp.NeighborAdvertisement{Solicited: true, Override: true, TargetAddress: heldV6,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: holderMAC}}}, linkLocal(ourMAC), ourMAC)
	if ip, mac, ok := probeReply(na); !ok || ip != heldV6 || mac.String() != holderMAC.String() {
		t.Errorf("solicited Neighbor Advertisement read as %v %v %v", ip, mac, ok)
	}
	bad := append([]byte(nil), na...)
	binary.BigEndian.PutUint16(bad[ethHeaderLen+ipv6HeaderLen+2:], 0) // checksum
	if _, _, ok := probeReply(bad); ok {
		t.Error("an advertisement with a bad checksum accepted")
	}
}

// TestProbeHostAddrs: a round also asks for those of the holder's own
// addresses that are on the probing link's subnets; the answer its kernel
// gives for one reports it alive, and silence is reported as the host's
// only when a node address was asked for.
func TestProbeHostAddrs(t *testing.T) {
	hostV4 := netip.MustParseAddr("192.0.2.2")
	for _, tc := range []struct {
		name     string
		addrs    []netip.Addr
		frames   int // per round
		hostGone bool
	}{
		{"node address on the link", []netip.Addr{hostV4, netip.MustParseAddr("2001:db8::2")}, 3, true},
		{"node address elsewhere", []netip.Addr{netip.MustParseAddr("198.51.100.2")}, 1, false},
		{"no node address", nil, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			psys := newFakeSystem(eth0())
			prober, clk, _ := newTestAnnouncer(t, psys, 0)
			defer prober.Close()
			prober.Probe([]ProbeTarget{{Node: "holder", IP: heldV4, MACs: []net.HardwareAddr{holderMAC}, Addrs: tc.addrs}})
			var c *fakeConn
			var sent [][]byte
			eventually(t, func() bool {
				if c = psys.conn("eth0"); c != nil {
					sent = append(sent, c.take()...)
				}
				return len(sent) >= tc.frames
			}, "the first round, sent at once")
			if len(sent) != tc.frames {
				t.Fatalf("first round sent %d frames, want %d", len(sent), tc.frames)
			}
			if tc.hostGone {
				// The holder's kernel answers its address: alive.
				reply, err := arpFrame(2, holderMAC, hostV4, ourMAC, netip.IPv4Unspecified(), ourMAC)
				if err != nil {
					t.Fatal(err)
				}
				c.in4 <- reply
				select {
				case r := <-prober.ProbeResults():
					if !r.Alive || r.Node != "holder" {
						t.Fatalf("result %+v, want holder alive", r)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("no result for the kernel's answer")
				}
			}
			for {
				clk.Step(DefaultProbeInterval)
				select {
				case r := <-prober.ProbeResults():
					if r.Alive || r.HostSilent != tc.hostGone {
						t.Fatalf("result %+v, want silent with HostSilent %v", r, tc.hostGone)
					}
					return
				case <-time.After(20 * time.Millisecond):
				}
				if clk.Since(time.Unix(1_700_000_000, 0)) > 10*time.Second {
					t.Fatal("no silence reported")
				}
			}
		})
	}
}
