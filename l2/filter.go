package l2

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"golang.org/x/net/bpf"
)

// maxFilteredIPv4 and maxFilteredIPv6 are how many held addresses of each
// family an interface's filter matches. Beyond them the filter passes every
// frame of the protocol and the user-space lookup decides, because a classic
// BPF program may not exceed 4096 instructions (an address costs four: a
// compare and an accept at each of two offsets). They are variables for the
// benchmarks.
var (
	maxFilteredIPv4 = 1000
	maxFilteredIPv6 = 1000
)

// Frame offsets the filters read (Ethernet header included).
const (
	offEtherType   = 12
	offARPSPA      = ethHeaderLen + 14
	offARPTPA      = ethHeaderLen + 24
	offIP6Next     = ethHeaderLen + 6
	offIP6Src      = ethHeaderLen + 8
	offICMPType    = ethHeaderLen + ipv6HeaderLen
	offNDTarget    = ethHeaderLen + ipv6HeaderLen + 8
	packetOutgoing = 4 // PACKET_OUTGOING in the skb's pkt_type
)

// arpFilter returns the program for an interface's ARP socket. Only ARP
// frames whose sender or target address is a held VIP reach user space:
// requests for a VIP (to answer them) and replies or gratuitous ARP from a
// VIP (to report claims). A flood of requests for other addresses is dropped
// in the kernel. With no VIP held, nothing passes.
func arpFilter(held []netip.Addr) []bpf.Instruction {
	prog := arpHeader()
	var v4 []uint32
	for _, ip := range held {
		if ip.Is4() {
			b := ip.As4()
			v4 = append(v4, binary.BigEndian.Uint32(b[:]))
		}
	}
	if len(v4) > maxFilteredIPv4 {
		return arpCoarse()
	}
	return appendWordMatch(prog, []uint32{offARPSPA, offARPTPA}, v4)
}

// appendWordMatch ends prog with an accept for every frame whose 32-bit word
// at one of offs is one of words, and a drop for the rest. Each word is a
// compare and its own accept, so no jump is longer than one instruction (BPF
// conditional jumps are 8 bits).
func appendWordMatch(prog []bpf.Instruction, offs, words []uint32) []bpf.Instruction {
	for _, off := range offs {
		prog = append(prog, bpf.LoadAbsolute{Off: off, Size: 4})
		for _, w := range words {
			prog = append(prog,
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: w, SkipFalse: 1},
				bpf.RetConstant{Val: maxFrameLen})
		}
	}
	return append(prog, bpf.RetConstant{Val: 0})
}

// etherHeader drops the frames this host sends and those of another
// EtherType than etherType.
func etherHeader(etherType uint32) []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: 0, SkipFalse: 1},
		bpf.RetConstant{Val: 0},
		bpf.LoadAbsolute{Off: offEtherType, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherType, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
	}
}

// arpHeader drops what is not an ARP frame, and the frames this host sends.
func arpHeader() []bpf.Instruction { return etherHeader(etherTypeARP) }

// arpCoarse and ndpCoarse pass every frame of their protocol, leaving the
// addresses to the user-space lookup: for more VIPs than a program can name,
// and when the kernel refuses the program that names them (linuxConn.setFilter).
func arpCoarse() []bpf.Instruction { return append(arpHeader(), bpf.RetConstant{Val: maxFrameLen}) }

func ndpCoarse() []bpf.Instruction { return append(ndpHeader(), bpf.RetConstant{Val: maxFrameLen}) }

// ndpHeader drops what is not an ICMPv6 Neighbor Solicitation or
// Advertisement (without extension headers), and the frames this host sends.
func ndpHeader() []bpf.Instruction {
	return append(etherHeader(etherTypeIPv6),
		bpf.LoadAbsolute{Off: offIP6Next, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoICMPv6, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
		bpf.LoadAbsolute{Off: offICMPType, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 135, SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 136, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
	)
}

// ndpFilter returns the program for an interface's IPv6 socket: ICMPv6
// (without extension headers) Neighbor Solicitations and Advertisements whose
// target or source may be a held VIP. Everything else IPv6, the node's whole
// traffic, stays in the kernel.
func ndpFilter(held []netip.Addr) []bpf.Instruction {
	prog := ndpHeader()
	// Only an address's last 32 bits are compared: the filter keeps floods
	// out of user space, where the exact lookup decides, and a full compare
	// costs four loads per address, which made the program of a node holding
	// 20 IPv6 VIPs too large for a socket under the default
	// net.core.optmem_max of kernels before 6.9.
	var v6 []uint32
	for _, ip := range held {
		if ip.Is6() && !ip.Is4In6() {
			b := ip.As16()
			v6 = append(v6, binary.BigEndian.Uint32(b[12:]))
		}
	}
	slices.Sort(v6)
	v6 = slices.Compact(v6)
	if len(v6) > maxFilteredIPv6 {
		return ndpCoarse()
	}
	return appendWordMatch(prog, []uint32{offNDTarget + 12, offIP6Src + 12}, v6)
}
