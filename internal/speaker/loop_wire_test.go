package speaker

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/leaselb/leaselb/l2"
)

// TestLoopLinkFlapRevalidates: a holder whose only link goes down stops
// answering at once (noInterface; here the API is unreachable too, so the
// election keeps the group), answers nothing while the link is in its
// hold-down, and after it answers nothing until its Lease cache is current
// since the return and still names it.
func TestLoopLinkFlapRevalidates(t *testing.T) {
	for _, tt := range []struct {
		name   string
		holder string // the lease's holder as the cache shows it after the return
		want   []string
	}{
		{"the lease still names us", me, []string{"vip-192.0.2.10=192.0.2.10@"}},
		{"a successor took it", "b", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, false)
			h.add(append(baseObjects(), svc("web", "192.0.2.10"))...)
			h.el.hold("vip-192.0.2.10")
			h.step(false)
			h.wantAnnounced("vip-192.0.2.10=192.0.2.10@")
			h.rec.take()
			up := h.an.links[0]
			down := up
			down.Up = false

			h.clk.Step(time.Second)
			h.an.setLinks(down)
			h.step(true)
			h.wantAnnounced()
			h.wantEvents("Normal Released default/web: node a stopped announcing 192.0.2.10: noInterface")

			h.clk.Step(10 * time.Second)
			h.an.setLinks(up)
			h.step(true)
			h.wantAnnounced() // hold-down
			if want := h.clk.Now().Add(linkHoldDown); !h.l.wire.next.Equal(want) {
				t.Fatalf("hold-down ends %v, want %v", h.l.wire.next, want)
			}

			h.clk.Step(linkHoldDown)
			back := h.clk.Now()
			h.el.cacheSince = back.Add(-time.Millisecond) // a renewal sent before the return
			h.step(true)
			h.wantAnnounced() // not revalidated
			h.wantEvents()
			if !h.l.gated {
				t.Fatalf("not gated while revalidating")
			}

			h.clk.Step(300 * time.Millisecond)
			h.el.cacheSince = back.Add(100 * time.Millisecond)
			h.el.holders["vip-192.0.2.10"] = tt.holder
			h.step(false)
			h.wantAnnounced(tt.want...)
		})
	}
}

// TestLoopTermAfterReturnNeedsNoRevalidation: a group won after the link
// came back was a conditional write on current data; it is announced at once.
func TestLoopTermAfterReturnNeedsNoRevalidation(t *testing.T) {
	h := newHarness(t, false)
	h.add(append(baseObjects(), svc("web", "192.0.2.10"))...)
	up := h.an.links[0]
	down := up
	down.Up = false
	h.step(true)
	h.clk.Step(time.Second)
	h.an.setLinks(down)
	h.step(true)
	h.clk.Step(time.Second)
	h.an.setLinks(up)
	h.step(true)
	h.clk.Step(linkHoldDown)
	h.step(true)
	h.clk.Step(time.Millisecond)
	h.el.hold("vip-192.0.2.10")
	h.step(false)
	h.wantAnnounced("vip-192.0.2.10=192.0.2.10@")
}

// TestLoopHoldDownExcepted: a second link of a group, back but in its
// hold-down, is kept from answering while the first carries on.
func TestLoopHoldDownExcepted(t *testing.T) {
	h := newHarness(t, false)
	eth1 := wlink("eth1", true, "192.0.2.2/24")
	h.an.links = append(h.an.links, eth1)
	h.add(append(baseObjects(), svc("web", "192.0.2.10"))...)
	h.el.hold("vip-192.0.2.10")
	h.step(false)
	h.clk.Step(time.Second)
	eth1.Up = false
	h.an.setLinks(h.an.links[0], eth1)
	h.step(true)
	h.clk.Step(time.Second)
	eth1.Up = true
	h.an.setLinks(h.an.links[0], eth1)
	h.step(true)
	if len(h.an.last) != 1 || !slices.Equal(h.an.last[0].Except, []string{"eth1"}) {
		t.Fatalf("desired %+v, want the group with eth1 excepted", h.an.last)
	}
}

func TestLoopPredecessorIsAnsweredOnTheWire(t *testing.T) {
	h := newHarness(t, true)
	h.nodeLease("b", "02:00:00:00:00:0b")
	h.add(append(baseObjects(), svc("web", "192.0.2.10"))...)
	h.el.cacheSince = h.clk.Now()
	peer, _ := net.ParseMAC("02:00:00:00:00:0b")
	claim := func() {
		h.l.claim(l2.Claim{IP: netip.MustParseAddr("192.0.2.10"), MAC: peer, Interface: "eth0"})
	}
	claim()
	claim() // rate-limited
	if len(h.an.reannounced) != 1 || !slices.Equal(h.an.reannounced[0], []netip.Addr{netip.MustParseAddr("192.0.2.10")}) {
		t.Fatalf("reannounced %v, want 192.0.2.10 once", h.an.reannounced)
	}
	h.clk.Step(reannounceInterval)
	h.el.cacheSince = h.clk.Now()
	claim()
	if len(h.an.reannounced) != 2 {
		t.Fatalf("reannounced %d times after the interval, want 2", len(h.an.reannounced))
	}
	h.wantAnnounced("vip-192.0.2.10=192.0.2.10@")
}

// TestLoopOwnMACIsNeverAConflict: a frame from one of our own MACs that no
// node lease lists yet (it was briefly down) is not an IP conflict.
func TestLoopOwnMACIsNeverAConflict(t *testing.T) {
	h := newHarness(t, true)
	h.add(append(baseObjects(), svc("web", "192.0.2.10"))...)
	h.rec.take()
	h.l.claim(l2.Claim{IP: netip.MustParseAddr("192.0.2.10"), MAC: h.an.macs[0], Interface: "eth0"})
	h.wantEvents()
	if n := testutil.ToFloat64(h.l.cfg.m.conflicts); n != 0 {
		t.Errorf("ip_conflicts = %v", n)
	}
}
