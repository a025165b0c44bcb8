package l2

import (
	"bytes"
	"encoding/binary"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
	"go.uber.org/zap"
)

// The wire check's prober (docs/election.md, "The wire may hurry a
// takeover, never decide one"). When a holder has missed a renewal of its
// node lease, the speaker asks the Announcer to probe it: an ARP request
// (IPv4) or a Neighbor Solicitation (IPv6, RFC 4861, Section 7.2.2) for one
// of the holder's VIPs, unicast to each of the holder's MACs, every probe
// interval. The holder's speaker answers it like any request (handleARP,
// handleNS), from user space. The same round asks, the same way, for each of
// the holder's own addresses that is on the probing link's subnets: the
// holder's kernel answers those, whether or not its speaker runs. A reply
// from one of the holder's MACs reports the holder alive; ProbeMisses
// unanswered rounds in a row report it silent, with the send time of the
// first of them, and whether every one of those rounds asked for a node
// address too. What the election makes of that is not decided here.

// Defaults of the prober's Config fields.
const (
	DefaultProbeInterval = 100 * time.Millisecond
	DefaultProbeMisses   = 3
)

// A ProbeTarget is a holder to probe on the wire.
type ProbeTarget struct {
	// Node is the holder's node name, handed back in its ProbeResults.
	Node string
	// IP is one of the holder's VIPs: it answers requests for it.
	IP netip.Addr
	// MACs are the holder's MACs (its node lease's leaselb.io/macs); each
	// probe is sent to every one of them.
	MACs []net.HardwareAddr
	// Interfaces are the L2Advertisement's interfaces for the VIP; empty
	// means the default choice, as for announcing.
	Interfaces []string
	// Addrs are the holder's own addresses (its node lease's
	// leaselb.io/addrs). Those inside a prefix of the probing interface are
	// probed too: the holder's kernel answers for them.
	Addrs []netip.Addr
}

// A ProbeResult is what the wire said about a probed holder.
type ProbeResult struct {
	Node string
	// Alive is true when a reply came from one of the holder's MACs.
	Alive bool
	// SilentSince, when !Alive, is the send time of the first of the
	// ProbeMisses probes in a row that got no reply.
	SilentSince time.Time
	// HostSilent, when !Alive, says that each of those rounds also asked
	// for one of the holder's own addresses: its kernel, not only its
	// speaker, is silent.
	HostSilent bool
}

// probeCount is the pure count of one target's unanswered probes. A probe
// counts as unanswered when the next round starts without a reply to it;
// a round that could send nothing counts nothing, so a prober that cannot
// reach the holder's link never reports silence.
type probeCount struct {
	first  time.Time // send time of the first unanswered probe of this run
	misses int
	out    bool // the last probe sent has no reply yet
	host   bool // every round of this run asked for a node address too
}

// round starts a probing round at now: it counts the last probe if it was
// not answered and reports silence after misses in a row. sent says
// whether this round's probe could be sent, host whether it asked for one
// of the holder's own addresses too.
func (c *probeCount) round(now time.Time, misses int, sent, host bool) (silent bool, since time.Time, hostSilent bool) {
	if c.out {
		c.misses++
		c.out = false
	}
	silent, since, hostSilent = c.misses >= misses, c.first, c.host
	if sent {
		if c.misses == 0 {
			c.first, c.host = now, true
		}
		c.host = c.host && host
		c.out = true
	}
	return silent, since, hostSilent && silent
}

// answered records a reply: the holder is alive, the count starts again.
func (c *probeCount) answered() { *c = probeCount{} }

// probeTarget is one target's state.
type probeTarget struct {
	ProbeTarget
	count probeCount
	last  time.Time // when its last round ran; zero before the first
}

// probeSockets are the prober's own sockets on one interface: the
// Announcer's only see frames about VIPs this node holds.
type probeSockets struct {
	socks ifaceSockets
	ips   []netip.Addr // the filter's addresses
}

// prober is the Announcer's wire-check state, guarded by its own mutex
// (never held while taking Announcer.mu).
type prober struct {
	interval time.Duration
	misses   int
	results  chan ProbeResult

	mu      sync.Mutex
	started bool
	targets map[string]*probeTarget // by node
	socks   map[string]*probeSockets
	wake    chan struct{}
}

func newProber(interval time.Duration, misses int) *prober {
	if interval <= 0 {
		interval = DefaultProbeInterval
	}
	if misses <= 0 {
		misses = DefaultProbeMisses
	}
	return &prober{interval: interval, misses: misses, results: make(chan ProbeResult, 64),
		targets: map[string]*probeTarget{}, socks: map[string]*probeSockets{}, wake: make(chan struct{}, 1)}
}

// ProbeResults returns the channel of probe results. It is buffered; when
// the speaker falls behind, results are dropped (the next round repeats a
// silence, and a live holder answers again). It is closed by Close.
func (a *Announcer) ProbeResults() <-chan ProbeResult { return a.probe.results }

// Probe replaces the set of holders to probe; an empty set stops probing
// and closes the prober's sockets. A target whose node, IP and MACs are
// unchanged keeps its count of unanswered probes.
func (a *Announcer) Probe(targets []ProbeTarget) {
	p := a.probe
	a.mu.Lock()
	closed := a.closed
	a.mu.Unlock()
	if closed {
		return
	}
	p.mu.Lock()
	next := map[string]*probeTarget{}
	fresh := false // a target to probe at once: a new suspect waits no round
	for _, t := range targets {
		if _, dup := next[t.Node]; dup || !t.IP.IsValid() || len(t.MACs) == 0 {
			continue
		}
		t.IP = t.IP.Unmap().WithZone("")
		t.MACs = slices.Clone(t.MACs)
		t.Interfaces = slices.Clone(t.Interfaces)
		t.Addrs = unmapAll(t.Addrs)
		nt := &probeTarget{ProbeTarget: t}
		old := p.targets[t.Node]
		if old != nil && old.IP == t.IP && slices.Equal(old.Addrs, t.Addrs) && slices.EqualFunc(old.MACs, t.MACs, func(x, y net.HardwareAddr) bool { return bytes.Equal(x, y) }) {
			nt.count = old.count
		} else {
			fresh = true
		}
		next[t.Node] = nt
	}
	p.targets = next
	start := len(next) > 0 && !p.started
	if start {
		p.started = true
		a.wg.Add(1)
	}
	p.mu.Unlock()
	if start {
		go a.probeLoop()
	}
	if fresh || len(next) == 0 {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// unmapAll returns addrs unmapped, without zones, sorted and without
// duplicates.
func unmapAll(addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, ip := range addrs {
		if ip.IsValid() {
			out = append(out, ip.Unmap().WithZone(""))
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// probeLoop runs a probing round every interval, and at once when a new
// target arrives (its first probe waits no interval) or the set empties
// (the sockets close). A round counts the last probes before it sends the
// next ones, and every target's count moves one step per round, so an
// extra round only sends a new target's first probe earlier; a target
// probed in the previous round is skipped when the extra round comes less
// than an interval after it (probeTarget.last).
func (a *Announcer) probeLoop() {
	defer a.wg.Done()
	p := a.probe
	ticker := a.clock.NewTicker(p.interval)
	defer ticker.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-ticker.C():
			a.probeRound()
		case <-p.wake:
			a.probeRound()
		}
	}
}

// probeRound counts the last round's probes, reports silences, and sends
// the next probe to every target.
func (a *Announcer) probeRound() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	infos := slices.Clone(a.infos)
	a.mu.Unlock()
	byName := map[string]Link{}
	for _, l := range infos {
		byName[l.Name] = l
	}
	now := a.clock.Now()
	p := a.probe
	p.mu.Lock()
	defer p.mu.Unlock()

	// Which interfaces probe which targets, and the filters they need.
	ifaces := map[string][]netip.Addr{}
	route := map[string][]string{}
	for node, t := range p.targets {
		for _, name := range ChooseInterfaces(infos, t.IP, t.Interfaces) {
			route[node] = append(route[node], name)
			ifaces[name] = append(ifaces[name], t.IP)
			ifaces[name] = append(ifaces[name], hostAddrsOn(byName[name], t.Addrs)...)
		}
	}
	for name, s := range p.socks {
		if _, ok := ifaces[name]; !ok {
			a.closeProbeSockets(name, s)
		}
	}
	for name, ips := range ifaces {
		slices.SortFunc(ips, netip.Addr.Compare)
		ips = slices.Compact(ips)
		s := p.socks[name]
		if s == nil {
			c, err := a.sys.open(byName[name])
			if err != nil {
				a.m.socketErrors.WithLabelValues(name).Inc()
				a.log.Debug("opening probe sockets failed", zap.String("interface", name), zap.Error(err))
				continue
			}
			s = &probeSockets{socks: c}
			p.socks[name] = s
			a.wg.Add(2)
			go a.readProbeReplies(name, c, c.readARP)
			go a.readProbeReplies(name, c, c.readNDP)
		}
		if !slices.Equal(s.ips, ips) {
			// A coarse filter only costs the prober frames it drops itself.
			if _, err := s.socks.setFilter(ips); err != nil {
				a.m.socketErrors.WithLabelValues(name).Inc()
				a.closeProbeSockets(name, s)
				continue
			}
			s.ips = ips
		}
	}

	for _, node := range slices.Sorted(maps.Keys(p.targets)) {
		t := p.targets[node]
		if !t.last.IsZero() && now.Sub(t.last) < p.interval/2 {
			continue // probed this interval already: an extra round for a new target
		}
		t.last = now
		sent, host := false, false
		for _, name := range route[node] {
			s := p.socks[name]
			if s == nil {
				continue
			}
			l := byName[name]
			if a.sendProbes(l, s.socks, t.MACs, []netip.Addr{t.IP}) {
				sent = true
			}
			if a.sendProbes(l, s.socks, t.MACs, hostAddrsOn(l, t.Addrs)) {
				host = true
			}
		}
		if silent, since, hostSilent := t.count.round(now, p.misses, sent, host); silent {
			a.probeResult(ProbeResult{Node: node, SilentSince: since, HostSilent: hostSilent})
		}
	}
}

// hostAddrsOn returns those of a holder's addrs that are inside one of l's
// prefixes: on l's subnet, so the holder's kernel answers for them on the
// link l shares with it.
func hostAddrsOn(l Link, addrs []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, ip := range addrs {
		if slices.ContainsFunc(l.Prefixes, func(p netip.Prefix) bool { return p.Masked().Contains(ip) }) {
			out = append(out, ip)
		}
	}
	return out
}

// sendProbes sends a probe for each of ips on interface l to each of macs
// and reports whether one went out.
func (a *Announcer) sendProbes(l Link, c ifaceSockets, macs []net.HardwareAddr, ips []netip.Addr) bool {
	sent := false
	for _, ip := range ips {
		family, write := familyIPv4, c.writeARP
		if ip.Is6() {
			family, write = familyIPv6, c.writeNDP
		}
		for _, mac := range macs {
			frame, err := probeFrame(l, ip, mac)
			if err != nil {
				continue
			}
			if err := write(frame); err != nil {
				a.m.socketErrors.WithLabelValues(l.Name).Inc()
				continue
			}
			a.m.probes.WithLabelValues(l.Name, family).Inc()
			sent = true
		}
	}
	return sent
}

func (a *Announcer) probeResult(r ProbeResult) {
	select {
	case a.probe.results <- r:
	default:
	}
}

// closeProbeSockets closes interface name's probe sockets; their readers
// end. Called with the prober's mutex held.
func (a *Announcer) closeProbeSockets(name string, s *probeSockets) {
	delete(a.probe.socks, name)
	if err := s.socks.close(); err != nil {
		a.log.Debug("closing probe sockets", zap.String("interface", name), zap.Error(err))
	}
}

// readProbeReplies is one probe socket's receive loop; it ends when the
// socket is closed.
func (a *Announcer) readProbeReplies(name string, c ifaceSockets, readFn func([]byte) (int, error)) {
	defer a.wg.Done()
	buf := make([]byte, maxFrameLen+1)
	for {
		n, err := readFn(buf)
		if err != nil {
			return
		}
		ip, mac, ok := probeReply(buf[:n])
		if !ok {
			continue
		}
		p := a.probe
		p.mu.Lock()
		var node string
		for nd, t := range p.targets {
			if (t.IP == ip || slices.Contains(t.Addrs, ip)) && slices.ContainsFunc(t.MACs, func(m net.HardwareAddr) bool { return bytes.Equal(m, mac) }) {
				node = nd
				t.count.answered()
				break
			}
		}
		p.mu.Unlock()
		if node != "" {
			family := familyIPv4
			if ip.Is6() {
				family = familyIPv6
			}
			a.m.probeReplies.WithLabelValues(name, family).Inc()
			a.probeResult(ProbeResult{Node: node, Alive: true})
		}
	}
}

// probeFrame builds the probe of ip for the holder at mac, sent from
// interface l, unicast to mac the way a host checks that a neighbour it
// knows is still reachable (RFC 4861, Section 7.3.1), so only the holder
// sees it. IPv4: an ARP request from 0.0.0.0, as an RFC 5227 probe, so no
// host's ARP cache learns anything from it. IPv6: a Neighbor Solicitation to
// ip itself, from l's EUI-64 link-local address, with a source link-layer
// option: the holder's speaker answers from user space to that option, so
// the source needs no configured address (the answer is read off the raw
// socket, never from the kernel).
func probeFrame(l Link, ip netip.Addr, mac net.HardwareAddr) ([]byte, error) {
	if ip.Is4() {
		return arpFrame(arp.OperationRequest, l.MAC, netip.IPv4Unspecified(), ethZero, ip, mac)
	}
	src := linkLocal(l.MAC)
	ns := &ndp.NeighborSolicitation{
		TargetAddress: ip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: l.MAC}},
	}
	return ndpFrameFor(ns, src, ip, l.MAC, mac)
}

// linkLocal returns the EUI-64 link-local address of mac (RFC 4291,
// Appendix A).
func linkLocal(mac net.HardwareAddr) netip.Addr {
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	b[8], b[9], b[10] = mac[0]^0x02, mac[1], mac[2]
	b[11], b[12] = 0xff, 0xfe
	b[13], b[14], b[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(b)
}

// probeReply recognises the answer to a probe: an ARP reply addressed to
// one host (the VIP is its sender address, the holder's MAC its sender
// hardware address) or a solicited Neighbor Advertisement (the VIP is its
// target, the holder's MAC its target link-layer option, else its Ethernet
// source). Gratuitous ARP and unsolicited advertisements do not count: the
// holder's takeover burst is no answer to a probe sent now. It checks what
// handleNDP checks of an advertisement (hop limit, code, checksum).
func probeReply(frame []byte) (ip netip.Addr, mac net.HardwareAddr, ok bool) {
	if len(frame) < ethHeaderLen || len(frame) > maxFrameLen {
		return netip.Addr{}, nil, false
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case etherTypeARP:
		var pkt arp.Packet
		if len(frame) < ethHeaderLen+arpPayloadLen || pkt.UnmarshalBinary(frame[ethHeaderLen:]) != nil || pkt.Operation != arp.OperationReply ||
			isBroadcast(pkt.TargetHardwareAddr) || bytes.Equal(pkt.TargetHardwareAddr, ethZero) {
			return netip.Addr{}, nil, false
		}
		return pkt.SenderIP, cloneMAC(pkt.SenderHardwareAddr), true
	case etherTypeIPv6:
		if len(frame) < ethHeaderLen+ipv6HeaderLen+24 {
			return netip.Addr{}, nil, false
		}
		ip6 := frame[ethHeaderLen:]
		plen := int(binary.BigEndian.Uint16(ip6[4:6]))
		if ip6[0]>>4 != 6 || ip6[6] != protoICMPv6 || ip6[7] != ndp.HopLimit || ipv6HeaderLen+plen > len(ip6) || plen < 24 {
			return netip.Addr{}, nil, false
		}
		src := netip.AddrFrom16([16]byte(ip6[8:24]))
		dst := netip.AddrFrom16([16]byte(ip6[24:40]))
		body := ip6[ipv6HeaderLen : ipv6HeaderLen+plen]
		if body[1] != 0 || !validChecksum(src, dst, body) {
			return netip.Addr{}, nil, false
		}
		msg, err := ndp.ParseMessage(body)
		if err != nil {
			return netip.Addr{}, nil, false
		}
		na, isNA := msg.(*ndp.NeighborAdvertisement)
		if !isNA || !na.Solicited {
			return netip.Addr{}, nil, false
		}
		mac := cloneMAC(frame[6:12])
		if lla := linkLayerOption(na.Options, ndp.Target); lla != nil {
			mac = cloneMAC(lla)
		}
		return na.TargetAddress, mac, true
	}
	return netip.Addr{}, nil, false
}
