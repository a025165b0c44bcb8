package l2

import (
	"encoding/binary"
	"net/netip"

	"golang.org/x/net/bpf"
)

// maxFilteredIPv4 and maxFilteredIPv6 are how many held addresses of each
// family an interface's filter matches exactly. Beyond them the filter passes
// every frame of the protocol and the user-space lookup decides, because a
// classic BPF program may not exceed 4096 instructions (an IPv4 address costs
// four, an IPv6 address eighteen). They are variables for the benchmarks.
var (
	maxFilteredIPv4 = 1000
	maxFilteredIPv6 = 200
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
	prog := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: 0, SkipFalse: 1},
		bpf.RetConstant{Val: 0},
		bpf.LoadAbsolute{Off: offEtherType, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeARP, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
	}
	var v4 []uint32
	for _, ip := range held {
		if ip.Is4() {
			b := ip.As4()
			v4 = append(v4, binary.BigEndian.Uint32(b[:]))
		}
	}
	if len(v4) > maxFilteredIPv4 {
		return append(prog, bpf.RetConstant{Val: maxFrameLen})
	}
	// Each address is a compare and its own accept, so no jump is longer
	// than one instruction (BPF conditional jumps are 8 bits).
	for _, off := range []uint32{offARPSPA, offARPTPA} {
		prog = append(prog, bpf.LoadAbsolute{Off: off, Size: 4})
		for _, w := range v4 {
			prog = append(prog,
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: w, SkipFalse: 1},
				bpf.RetConstant{Val: maxFrameLen})
		}
	}
	return append(prog, bpf.RetConstant{Val: 0})
}

// ndpFilter returns the program for an interface's IPv6 socket: ICMPv6
// (without extension headers) Neighbor Solicitations and Advertisements whose
// target or source is a held VIP. Everything else IPv6, the node's whole
// traffic, stays in the kernel.
func ndpFilter(held []netip.Addr) []bpf.Instruction {
	prog := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: 0, SkipFalse: 1},
		bpf.RetConstant{Val: 0},
		bpf.LoadAbsolute{Off: offEtherType, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeIPv6, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
		bpf.LoadAbsolute{Off: offIP6Next, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoICMPv6, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
		bpf.LoadAbsolute{Off: offICMPType, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 135, SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 136, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
	}
	var v6 [][4]uint32
	for _, ip := range held {
		if ip.Is6() && !ip.Is4In6() {
			b := ip.As16()
			var w [4]uint32
			for i := range w {
				w[i] = binary.BigEndian.Uint32(b[4*i:])
			}
			v6 = append(v6, w)
		}
	}
	if len(v6) > maxFilteredIPv6 {
		return append(prog, bpf.RetConstant{Val: maxFrameLen})
	}
	// Each address is a block of nine instructions ending in its own accept,
	// so no jump is longer than the block (BPF jump offsets are 8 bits).
	for _, off := range []uint32{offNDTarget, offIP6Src} {
		for _, w := range v6 {
			for j := 0; j < 4; j++ {
				prog = append(prog,
					bpf.LoadAbsolute{Off: off + uint32(4*j), Size: 4},
					bpf.JumpIf{Cond: bpf.JumpEqual, Val: w[j], SkipFalse: uint8(7 - 2*j)})
			}
			prog = append(prog, bpf.RetConstant{Val: maxFrameLen})
		}
	}
	return append(prog, bpf.RetConstant{Val: 0})
}
