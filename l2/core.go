package l2

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// Ethernet and header sizes the receive path checks frames against.
const (
	ethHeaderLen  = 14
	arpPayloadLen = 28
	ipv6HeaderLen = 40
	// maxFrameLen bounds what the receive path accepts: anything longer than
	// a jumbo frame did not come from a sane link and is dropped as malformed.
	maxFrameLen = 9216

	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
	protoICMPv6   = 58
)

var (
	ethBroadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	ethZero      = net.HardwareAddr{0, 0, 0, 0, 0, 0}
	// allNodes is ff02::1, where unsolicited advertisements and answers to
	// duplicate address detection go (RFC 4861, Section 7.2.4).
	allNodes    = netip.MustParseAddr("ff02::1")
	allNodesMAC = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
)

// verdict is what the receive path made of one frame; it picks the counter.
type verdict int

const (
	// ignored frames concern nothing we hold, or are our own.
	ignored verdict = iota
	// answered frames were requests for a held VIP; a reply is returned.
	answered
	// claimed frames claim a held VIP from a MAC that is not ours.
	claimed
	// malformed frames do not parse or break the protocol's rules.
	malformed
)

var verdictNames = [...]string{ignored: "ignored", answered: "answered", claimed: "claimed", malformed: "malformed"}

func (v verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// dropReason names the rule that made a frame ignored or malformed, one
// reason per rule, so a test can tell which one fired.
type dropReason int

const (
	dropNone dropReason = iota // answered or claimed

	// Ignored.
	dropOwnFrame         // the Ethernet source is a MAC of this host (looped back)
	dropOwnSender        // the ARP sender or NDP link-layer address is a MAC of this host
	dropNotHeld          // neither the target nor the sender address is a held VIP
	dropUnicastElsewhere // a request unicast to another host's MAC
	dropNotAClaim        // a reply or solicited advertisement about a held VIP, to someone else
	dropNotICMPv6        // an IPv6 packet that is not ICMPv6
	dropNotNeighborMsg   // ICMPv6 other than Neighbor Solicitation or Advertisement

	// Malformed.
	dropBadLength     // shorter than the protocol's minimum or longer than a jumbo frame
	dropBadEtherType  // the Ethernet type is not the one the socket filters for
	dropNotEthernetIP // ARP for another hardware or protocol type; IPv6 header of another version
	dropBadOperation  // an ARP operation other than request or reply
	dropTruncated     // the IPv6 payload length runs past the frame, or the message is too short
	dropUnparsable    // the ARP or NDP parser refused the message
	dropBadNDP        // hop limit, code or checksum break RFC 4861, Section 7.1
	dropBadSolicit    // a multicast target, or a DAD probe with a source link-layer option or to a non-solicited-node address
	dropCannotReply   // the reply could not be built
)

var dropNames = [...]string{
	dropNone: "none", dropOwnFrame: "ownFrame", dropOwnSender: "ownSender", dropNotHeld: "notHeld",
	dropUnicastElsewhere: "unicastElsewhere", dropNotAClaim: "notAClaim", dropNotICMPv6: "notICMPv6",
	dropNotNeighborMsg: "notNeighborMessage", dropBadLength: "badLength", dropBadEtherType: "badEtherType",
	dropNotEthernetIP: "notEthernetIP", dropBadOperation: "badOperation", dropTruncated: "truncated",
	dropUnparsable: "unparsable", dropBadNDP: "badNDP", dropBadSolicit: "badSolicitation", dropCannotReply: "cannotReply",
}

func (r dropReason) String() string {
	if int(r) < len(dropNames) {
		return dropNames[r]
	}
	return "dropReason(" + strconv.Itoa(int(r)) + ")"
}

// ignore and reject build the decisions for ignored and malformed frames.
func ignore(r dropReason) decision { return decision{verdict: ignored, drop: r} }
func reject(r dropReason) decision { return decision{verdict: malformed, drop: r} }

// ifaceView is an immutable snapshot of one interface as the receive path sees it:
// its MAC, the VIPs it answers for, and every MAC of this host (so that our
// own frames, looped back by a bridge or a hairpin, are never answered or
// reported as claims). A new snapshot replaces the old one atomically on
// every change, so the receive path takes no lock.
type ifaceView struct {
	name string
	mac  net.HardwareAddr
	held map[netip.Addr]struct{}
	ours map[[6]byte]struct{}
}

func (p *ifaceView) holds(ip netip.Addr) bool {
	if p == nil {
		return false
	}
	_, ok := p.held[ip]
	return ok
}

func (p *ifaceView) isOurs(mac []byte) bool {
	if len(mac) != 6 {
		return false
	}
	_, ok := p.ours[[6]byte(mac)]
	return ok
}

// decision is the outcome of one received frame.
type decision struct {
	verdict verdict
	reply   []byte     // frame to send back on the receiving interface, if any
	claim   Claim      // valid when verdict == claimed
	drop    dropReason // the rule that fired, when ignored or malformed
}

// handleARP decides what to do with one Ethernet frame carrying ARP received
// on p. It never blocks and never touches a socket.
func handleARP(p *ifaceView, frame []byte) decision {
	if len(frame) < ethHeaderLen+arpPayloadLen || len(frame) > maxFrameLen {
		return reject(dropBadLength)
	}
	if binary.BigEndian.Uint16(frame[12:14]) != etherTypeARP {
		return reject(dropBadEtherType)
	}
	dst, src := frame[0:6], frame[6:12]
	if p.isOurs(src) {
		return ignore(dropOwnFrame)
	}
	b := frame[ethHeaderLen:]
	// Only Ethernet/IPv4 ARP concerns us; the filter already checks the
	// ether type, so anything else here is broken or hostile.
	if binary.BigEndian.Uint16(b[0:2]) != 1 || binary.BigEndian.Uint16(b[2:4]) != 0x0800 || b[4] != 6 || b[5] != 4 {
		return reject(dropNotEthernetIP)
	}
	op := arp.Operation(binary.BigEndian.Uint16(b[6:8]))
	sha := b[8:14]
	spa := netip.AddrFrom4([4]byte(b[14:18]))
	tpa := netip.AddrFrom4([4]byte(b[24:28]))

	// Fast path: the flood of requests for addresses we do not hold costs a
	// couple of map lookups and no allocation.
	if !p.holds(tpa) && !p.holds(spa) {
		if op != arp.OperationRequest && op != arp.OperationReply {
			return reject(dropBadOperation)
		}
		return ignore(dropNotHeld)
	}

	var pkt arp.Packet
	if err := pkt.UnmarshalBinary(b); err != nil {
		return reject(dropUnparsable)
	}
	if p.isOurs(sha) {
		return ignore(dropOwnSender)
	}

	switch op {
	case arp.OperationRequest:
		// A request that uses a held VIP as its sender address comes from a
		// host that has (or announces) the VIP: a gratuitous request from a
		// successor, or an address conflict.
		if p.holds(spa) {
			return decision{verdict: claimed, claim: Claim{IP: spa, MAC: cloneMAC(sha), Interface: p.name}}
		}
		if !isBroadcast(dst) && !bytes.Equal(dst, p.mac) {
			// Unicast to another host; we only see it on a hub or a bridge.
			return ignore(dropUnicastElsewhere)
		}
		reply, err := arpFrame(arp.OperationReply, p.mac, tpa, pkt.SenderHardwareAddr, pkt.SenderIP, src)
		if err != nil {
			return reject(dropCannotReply)
		}
		return decision{verdict: answered, reply: reply}
	case arp.OperationReply:
		if p.holds(spa) {
			return decision{verdict: claimed, claim: Claim{IP: spa, MAC: cloneMAC(sha), Interface: p.name}}
		}
		// A reply to someone about a VIP we hold is not a claim of it.
		return ignore(dropNotAClaim)
	default:
		return reject(dropBadOperation)
	}
}

// arpFrame builds an Ethernet frame carrying one ARP packet. Short frames are
// padded to the Ethernet minimum, as some switches drop runts.
func arpFrame(op arp.Operation, srcHW net.HardwareAddr, srcIP netip.Addr, dstHW net.HardwareAddr, dstIP netip.Addr, ethDst net.HardwareAddr) ([]byte, error) {
	pkt, err := arp.NewPacket(op, srcHW, srcIP, dstHW, dstIP)
	if err != nil {
		return nil, err
	}
	payload, err := pkt.MarshalBinary()
	if err != nil {
		return nil, err
	}
	frame := make([]byte, 60)
	copy(frame[0:6], ethDst)
	copy(frame[6:12], srcHW)
	binary.BigEndian.PutUint16(frame[12:14], etherTypeARP)
	copy(frame[ethHeaderLen:], payload)
	return frame, nil
}

// gratuitousARP returns the two gratuitous ARP frames announcing that ip is
// at mac: the request form (RFC 5227 announcement: sender and target address
// are the VIP, target hardware address zero) and the reply form, because
// some clients honour only one of them.
func gratuitousARP(mac net.HardwareAddr, ip netip.Addr) ([][]byte, error) {
	req, err := arpFrame(arp.OperationRequest, mac, ip, ethZero, ip, ethBroadcast)
	if err != nil {
		return nil, err
	}
	rep, err := arpFrame(arp.OperationReply, mac, ip, ethBroadcast, ip, ethBroadcast)
	if err != nil {
		return nil, err
	}
	return [][]byte{req, rep}, nil
}

// handleNDP decides what to do with one Ethernet frame carrying IPv6 received
// on p: Neighbor Solicitations for held VIPs are answered, Neighbor
// Advertisements for held VIPs from other MACs are claims.
func handleNDP(p *ifaceView, frame []byte) decision {
	if len(frame) < ethHeaderLen+ipv6HeaderLen+4 || len(frame) > maxFrameLen {
		return reject(dropBadLength)
	}
	if binary.BigEndian.Uint16(frame[12:14]) != etherTypeIPv6 {
		return reject(dropBadEtherType)
	}
	ethSrc := frame[6:12]
	if p.isOurs(ethSrc) {
		return ignore(dropOwnFrame)
	}
	ip6 := frame[ethHeaderLen:]
	if ip6[0]>>4 != 6 {
		return reject(dropNotEthernetIP)
	}
	plen := int(binary.BigEndian.Uint16(ip6[4:6]))
	if ip6[6] != protoICMPv6 {
		// The filter passes only ICMPv6 without extension headers.
		return ignore(dropNotICMPv6)
	}
	if ipv6HeaderLen+plen > len(ip6) {
		return reject(dropTruncated)
	}
	src := netip.AddrFrom16([16]byte(ip6[8:24]))
	dst := netip.AddrFrom16([16]byte(ip6[24:40]))
	msgBytes := ip6[ipv6HeaderLen : ipv6HeaderLen+plen]
	if len(msgBytes) < 24 {
		return reject(dropTruncated)
	}
	typ := ipv6.ICMPType(msgBytes[0])
	if typ != ipv6.ICMPTypeNeighborSolicitation && typ != ipv6.ICMPTypeNeighborAdvertisement {
		return ignore(dropNotNeighborMsg)
	}
	// Fast path before any parsing or checksum: the target address sits at
	// the same offset in solicitations and advertisements.
	target := netip.AddrFrom16([16]byte(msgBytes[8:24]))
	if !p.holds(target) && !p.holds(src) {
		return ignore(dropNotHeld)
	}
	// RFC 4861, Sections 7.1.1 and 7.1.2: hop limit 255 (the sender is on
	// this link), code 0, valid checksum.
	if ip6[7] != ndp.HopLimit || msgBytes[1] != 0 || !validChecksum(src, dst, msgBytes) {
		return reject(dropBadNDP)
	}
	msg, err := ndp.ParseMessage(msgBytes)
	if err != nil {
		return reject(dropUnparsable)
	}

	switch m := msg.(type) {
	case *ndp.NeighborSolicitation:
		return handleNS(p, frame, src, dst, m)
	case *ndp.NeighborAdvertisement:
		if !p.holds(m.TargetAddress) || dst.IsMulticast() && m.Solicited {
			return ignore(dropNotAClaim)
		}
		mac := net.HardwareAddr(ethSrc)
		if lla := linkLayerOption(m.Options, ndp.Target); lla != nil {
			mac = lla
		}
		if p.isOurs(mac) {
			return ignore(dropOwnSender)
		}
		return decision{verdict: claimed, claim: Claim{IP: m.TargetAddress, MAC: cloneMAC(mac), Interface: p.name}}
	}
	return ignore(dropNotNeighborMsg)
}

func handleNS(p *ifaceView, frame []byte, src, dst netip.Addr, m *ndp.NeighborSolicitation) decision {
	slla := linkLayerOption(m.Options, ndp.Source)
	dad := src.IsUnspecified()
	if m.TargetAddress.IsMulticast() {
		return reject(dropBadSolicit)
	}
	if dad {
		// RFC 4861, Section 7.1.1: a solicitation from :: goes to a
		// solicited-node address and carries no source link-layer option.
		if slla != nil || !isSolicitedNode(dst) {
			return reject(dropBadSolicit)
		}
	}
	// A solicitation sent from a held VIP comes from a host that uses it.
	if p.holds(src) && slla != nil && !p.isOurs(slla) {
		return decision{verdict: claimed, claim: Claim{IP: src, MAC: cloneMAC(slla), Interface: p.name}}
	}
	if !p.holds(m.TargetAddress) {
		return ignore(dropNotHeld)
	}
	ethDst := frame[0:6]
	if !dst.IsMulticast() && !bytes.Equal(ethDst, p.mac) && !isBroadcast(ethDst) {
		return ignore(dropUnicastElsewhere)
	}

	// RFC 4861, Section 7.2.4. We hold the VIP as its owner and always
	// include the target link-layer option, so Override is set; Solicited is
	// set unless answering duplicate address detection, which goes to
	// all-nodes.
	na := &ndp.NeighborAdvertisement{
		Solicited:     !dad,
		Override:      true,
		TargetAddress: m.TargetAddress,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: p.mac}},
	}
	to, toMAC := allNodes, allNodesMAC
	if !dad {
		to = src
		toMAC = net.HardwareAddr(frame[6:12])
		if slla != nil {
			toMAC = slla
		}
	}
	reply, err := ndpFrame(p, na, to, toMAC)
	if err != nil {
		return reject(dropCannotReply)
	}
	return decision{verdict: answered, reply: reply}
}

// unsolicitedNA returns the unsolicited Neighbor Advertisement (Override set,
// Solicited clear, to all-nodes) announcing that ip is at p's MAC.
func unsolicitedNA(p *ifaceView, ip netip.Addr) ([]byte, error) {
	na := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: ip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: p.mac}},
	}
	return ndpFrame(p, na, allNodes, allNodesMAC)
}

// ndpFrame wraps a Neighbor Advertisement in IPv6 and Ethernet. Its source
// address is the target VIP, as Linux does for its own addresses: the VIP is
// the address this node answers as, and some tools (ndisc6) ignore answers
// from any other source.
func ndpFrame(p *ifaceView, m *ndp.NeighborAdvertisement, dst netip.Addr, dstMAC net.HardwareAddr) ([]byte, error) {
	return ndpFrameFor(m, m.TargetAddress.WithZone(""), dst, p.mac, dstMAC)
}

// ndpFrameFor is the Ethernet frame of the NDP message m from src to dst
// (IPv6 header with hop limit 255, as RFC 4861 requires, and the ICMPv6
// checksum), sent from srcMAC to dstMAC.
func ndpFrameFor(m ndp.Message, src, dst netip.Addr, srcMAC, dstMAC net.HardwareAddr) ([]byte, error) {
	body, err := ndp.MarshalMessageChecksum(m, src, dst)
	if err != nil {
		return nil, err
	}
	frame := make([]byte, ethHeaderLen+ipv6HeaderLen+len(body))
	copy(frame[0:6], dstMAC)
	copy(frame[6:12], srcMAC)
	binary.BigEndian.PutUint16(frame[12:14], etherTypeIPv6)
	ip6 := frame[ethHeaderLen:]
	ip6[0] = 6 << 4
	binary.BigEndian.PutUint16(ip6[4:6], uint16(len(body)))
	ip6[6] = protoICMPv6
	ip6[7] = ndp.HopLimit
	s16, d16 := src.As16(), dst.As16()
	copy(ip6[8:24], s16[:])
	copy(ip6[24:40], d16[:])
	copy(ip6[ipv6HeaderLen:], body)
	return frame, nil
}

// validChecksum checks the ICMPv6 checksum of msg; the kernel does not do it
// for packet sockets.
func validChecksum(src, dst netip.Addr, msg []byte) bool {
	psh := icmp.IPv6PseudoHeader(src.AsSlice(), dst.AsSlice())
	// The pseudo-header from x/net leaves length and next header to the
	// caller, as ICMP marshalling fills them in.
	binary.BigEndian.PutUint32(psh[32:36], uint32(len(msg)))
	psh[39] = protoICMPv6
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(psh)
	add(msg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return sum == 0xffff
}

func linkLayerOption(opts []ndp.Option, dir ndp.Direction) net.HardwareAddr {
	for _, o := range opts {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == dir && len(lla.Addr) == 6 {
			return lla.Addr
		}
	}
	return nil
}

func isSolicitedNode(ip netip.Addr) bool {
	b := ip.As16()
	return ip.Is6() && b[0] == 0xff && b[1] == 0x02 && bytes.Equal(b[2:13], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff})
}

func isBroadcast(mac []byte) bool { return bytes.Equal(mac, ethBroadcast) }

func cloneMAC(mac []byte) net.HardwareAddr { return append(net.HardwareAddr(nil), mac...) }
