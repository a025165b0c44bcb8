package main

import (
	"net"
	"net/netip"
	"sync"

	"github.com/leaselb/leaselb/internal/speaker"
	"github.com/leaselb/leaselb/l2"
)

// wire stands in for l2.Announcer: it keeps the desired announcements and
// answers nothing. Every IP is "announceable" on one interface, so the loop
// treats the node as able to announce every group (the real announcer's
// cost per VIP is measured by `make bench-l2`, not here).
type wire struct {
	mac    net.HardwareAddr
	claims chan l2.Claim

	mu      sync.Mutex
	desired []l2.Announcement
	closed  bool
}

var _ speaker.Announcer = (*wire)(nil)

func newWire(mac net.HardwareAddr) *wire {
	return &wire{mac: mac, claims: make(chan l2.Claim)}
}

func (w *wire) Set(desired []l2.Announcement) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.desired = desired
}

// Claims never delivers: nothing else is on this wire.
func (w *wire) Claims() <-chan l2.Claim { return w.claims }

func (w *wire) Interfaces(netip.Addr) []string { return []string{"sim0"} }

func (w *wire) MACs() []net.HardwareAddr { return []net.HardwareAddr{w.mac} }

// Addrs is empty: the test announcer has no kernel to answer probes.
func (w *wire) Addrs() []netip.Addr { return nil }

// Links is one usable link on every address: candidacy's wire check
// passes for every group, as Interfaces does.
func (w *wire) Links() []l2.Link {
	return []l2.Link{{Name: "sim0", Index: 1, MAC: w.mac, Up: true,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}}}
}

// LinksChanged never fires: the simulated link never changes.
func (w *wire) LinksChanged() <-chan struct{} { return nil }

// Reannounce has nobody to tell.
func (w *wire) Reannounce([]netip.Addr) {}

func (w *wire) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.claims)
	}
	return nil
}
