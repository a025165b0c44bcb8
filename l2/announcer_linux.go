//go:build linux

package l2

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// linuxSystem is the kernel: netlink for links and addresses, AF_PACKET
// sockets for ARP and NDP frames, an ICMPv6 socket for group memberships.
type linuxSystem struct{}

func newSystem() (system, error) { return linuxSystem{}, nil }

func (linuxSystem) interfaces() ([]Link, error) {
	nls, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("l2: listing network interfaces: %w", err)
	}
	// One dump of every address, rather than one per link: a node with
	// hundreds of pod veths relists on every pod start.
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("l2: listing addresses: %w", err)
	}
	byIndex := map[int][]netlink.Addr{}
	for _, ad := range addrs {
		byIndex[ad.LinkIndex] = append(byIndex[ad.LinkIndex], ad)
	}
	out := make([]Link, 0, len(nls))
	for _, nl := range nls {
		at := nl.Attrs()
		l := Link{
			Name:     at.Name,
			Index:    at.Index,
			MAC:      cloneMAC(at.HardwareAddr),
			Up:       at.Flags&net.FlagUp != 0 && (at.OperState == netlink.OperUp || at.OperState == netlink.OperUnknown),
			Loopback: at.Flags&net.FlagLoopback != 0,
			NoARP:    at.RawFlags&unix.IFF_NOARP != 0,
			Enslaved: at.MasterIndex != 0,
		}
		for _, ad := range byIndex[at.Index] {
			if ad.IPNet == nil {
				continue
			}
			ip, ok := netip.AddrFromSlice(ad.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			ones, _ := ad.Mask.Size()
			if ip.Is6() && ip.IsLinkLocalUnicast() {
				continue // no VIP is link-local
			}
			l.Prefixes = append(l.Prefixes, netip.PrefixFrom(ip, ones)) // the address itself: Addrs publishes it
		}
		out = append(out, l)
	}
	return out, nil
}

func (linuxSystem) watch(stop <-chan struct{}, changed func()) error {
	links := make(chan netlink.LinkUpdate, 16)
	addrs := make(chan netlink.AddrUpdate, 16)
	done := make(chan struct{})
	var once sync.Once
	end := func() { once.Do(func() { close(done) }) }
	defer end()
	if err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{}); err != nil {
		return fmt.Errorf("l2: subscribing to link changes: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{}); err != nil {
		// Drain until the library closes the channel, so its goroutines end.
		end()
		for range links {
		}
		return fmt.Errorf("l2: subscribing to address changes: %w", err)
	}
	stopped := false
	for links != nil || addrs != nil {
		select {
		case <-stop:
			stopped = true
			stop = nil
			end()
		case _, ok := <-links:
			if !ok {
				links = nil
				end() // one subscription is gone: end the other too
				continue
			}
			changed()
		case _, ok := <-addrs:
			if !ok {
				addrs = nil
				end()
				continue
			}
			changed()
		}
	}
	if !stopped {
		return errors.New("l2: netlink subscription ended")
	}
	return nil
}

// Ether types the packet sockets bind to. Binding to a protocol rather than
// ETH_P_ALL keeps the sockets off the transmit path: the kernel clones every
// outgoing packet for ETH_P_ALL taps before any filter runs.
const (
	ethPARP  = 0x0806
	ethPIPv6 = 0x86dd
)

type linuxConn struct {
	name string
	arp  *packet.Conn
	nd   *packet.Conn
	// Membership sockets, opened at the first join (interfaces without IPv6
	// need none) and one more each time the last is full, and which of them
	// holds each group.
	members  []*ndp.Conn
	memberOf map[netip.Addr]*ndp.Conn
	ifi      *net.Interface
}

func (linuxSystem) open(l Link) (ifaceSockets, error) {
	ifi := &net.Interface{Index: l.Index, Name: l.Name, HardwareAddr: l.MAC}
	drop, err := assemble(arpFilter(nil))
	if err != nil {
		return nil, err
	}
	ac, err := packet.Listen(ifi, packet.Raw, ethPARP, &packet.Config{Filter: drop})
	if err != nil {
		return nil, fmt.Errorf("l2: interface %q: opening ARP socket (the speaker needs CAP_NET_RAW): %w", l.Name, err)
	}
	dropND, err := assemble(ndpFilter(nil))
	if err != nil {
		_ = ac.Close()
		return nil, err
	}
	nc, err := packet.Listen(ifi, packet.Raw, ethPIPv6, &packet.Config{Filter: dropND})
	if err != nil {
		_ = ac.Close()
		return nil, fmt.Errorf("l2: interface %q: opening IPv6 socket (the speaker needs CAP_NET_RAW): %w", l.Name, err)
	}
	return &linuxConn{name: l.Name, arp: ac, nd: nc, ifi: ifi}, nil
}

func assemble(prog []bpf.Instruction) ([]bpf.RawInstruction, error) {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("l2: assembling BPF filter: %w", err)
	}
	return raw, nil
}

// setFilter installs the programs that name held on both sockets. The kernel
// charges a socket's filter to net.core.optmem_max (20 KiB by default before
// Linux 6.9: about 300 addresses), and the old program and the new one both
// while it swaps them. When it refuses a program for want of memory, the
// socket gets its protocol's coarse program, which passes every ARP or NDP
// frame to the user-space lookup, and one more try of the exact one, now
// replacing a small program. Answers stay right either way; exact reports
// whether both sockets filter in the kernel.
func (c *linuxConn) setFilter(held []netip.Addr) (exact bool, err error) {
	arpExact, err := attachFilter(c.arp, arpFilter(held), arpCoarse())
	if err != nil {
		return false, fmt.Errorf("l2: interface %q: ARP socket filter: %w", c.name, err)
	}
	ndExact, err := attachFilter(c.nd, ndpFilter(held), ndpCoarse())
	if err != nil {
		return false, fmt.Errorf("l2: interface %q: IPv6 socket filter: %w", c.name, err)
	}
	return arpExact && ndExact, nil
}

func attachFilter(conn *packet.Conn, prog, coarse []bpf.Instruction) (bool, error) {
	raw, err := assemble(prog)
	if err != nil {
		return false, err
	}
	if err = conn.SetBPF(raw); err == nil || !errors.Is(err, unix.ENOMEM) {
		return err == nil, err
	}
	small, err := assemble(coarse)
	if err != nil {
		return false, err
	}
	if err := conn.SetBPF(small); err != nil {
		return false, err
	}
	return conn.SetBPF(raw) == nil, nil
}

func (c *linuxConn) readARP(b []byte) (int, error) {
	n, _, err := c.arp.ReadFrom(b)
	return n, err
}

func (c *linuxConn) readNDP(b []byte) (int, error) {
	n, _, err := c.nd.ReadFrom(b)
	return n, err
}

func (c *linuxConn) writeARP(frame []byte) error {
	_, err := c.arp.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[0:6])})
	return err
}

func (c *linuxConn) writeNDP(frame []byte) error {
	_, err := c.nd.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[0:6])})
	return err
}

// join joins an IPv6 group the way the kernel's own addresses do: the
// kernel programs the NIC's multicast filter and sends MLD reports, so a
// switch doing MLD snooping forwards solicitations for the VIP to us. A
// socket's memberships are charged to net.core.optmem_max (about 360 of them
// under the 20 KiB default of kernels before 6.9), so a join no open socket
// has room for goes to a new one.
func (c *linuxConn) join(group netip.Addr) error {
	if _, ok := c.memberOf[group]; ok {
		return nil
	}
	for _, g := range slices.Backward(c.members) {
		err := g.JoinGroup(group)
		if err == nil {
			c.memberOf[group] = g
			return nil
		}
		if !errors.Is(err, unix.ENOMEM) {
			return err
		}
	}
	g, _, err := ndp.Listen(c.ifi, ndp.Unspecified)
	if err != nil {
		return fmt.Errorf("l2: interface %q: opening ICMPv6 socket for group membership: %w", c.name, err)
	}
	// Only memberships are wanted from this socket; the packet socket
	// receives the frames. Block every ICMPv6 type so nothing queues.
	var f ipv6.ICMPFilter
	f.SetAll(true)
	if err := g.SetICMPFilter(&f); err != nil {
		_ = g.Close()
		return err
	}
	if err := g.JoinGroup(group); err != nil {
		_ = g.Close()
		return err
	}
	if c.memberOf == nil {
		c.memberOf = map[netip.Addr]*ndp.Conn{}
	}
	c.members = append(c.members, g)
	c.memberOf[group] = g
	return nil
}

func (c *linuxConn) leave(group netip.Addr) error {
	g, ok := c.memberOf[group]
	if !ok {
		return nil
	}
	delete(c.memberOf, group)
	return g.LeaveGroup(group)
}

func (c *linuxConn) close() error {
	errs := []error{c.arp.Close(), c.nd.Close()}
	for _, g := range c.members {
		errs = append(errs, g.Close())
	}
	return errors.Join(errs...)
}
