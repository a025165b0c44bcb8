package allocator

import (
	"encoding/binary"
	"math"
	"math/bits"
	"net/netip"
	"strconv"
)

// familyOf returns the family of a valid, unmapped address.
func familyOf(ip netip.Addr) Family {
	if ip.Is4() {
		return IPv4
	}
	return IPv6
}

// String returns "IPv4" or "IPv6".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return "IP family " + strconv.Itoa(int(f))
}

// isBuggy reports whether ip is an IPv4 address ending in .0 or .255, which
// some old client stacks treat as network or broadcast addresses whatever
// the prefix length.
func isBuggy(ip netip.Addr) bool {
	if !ip.Is4() {
		return false
	}
	last := ip.As4()[3]
	return last == 0 || last == 255
}

// u128 is an unsigned 128-bit integer, enough to count any range of
// addresses but one (all of IPv6), where it saturates.
type u128 struct{ hi, lo uint64 }

var maxU128 = u128{math.MaxUint64, math.MaxUint64}

func u128Of(ip netip.Addr) u128 {
	b := ip.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (x u128) add(y u128) u128 {
	lo, c := bits.Add64(x.lo, y.lo, 0)
	hi, c := bits.Add64(x.hi, y.hi, c)
	if c != 0 {
		return maxU128
	}
	return u128{hi, lo}
}

// sub returns x-y, or 0 when y > x.
func (x u128) sub(y u128) u128 {
	lo, b := bits.Sub64(x.lo, y.lo, 0)
	hi, b := bits.Sub64(x.hi, y.hi, b)
	if b != 0 {
		return u128{}
	}
	return u128{hi, lo}
}

func (x u128) uint64() uint64 {
	if x.hi != 0 {
		return math.MaxUint64
	}
	return x.lo
}

// rangeSize counts the addresses from first to last inclusive (same
// family, first <= last).
func rangeSize(first, last netip.Addr) u128 {
	return u128Of(last).sub(u128Of(first)).add(u128{0, 1})
}

// buggyCount counts the .0 and .255 addresses from first to last inclusive.
func buggyCount(first, last netip.Addr) u128 {
	if !first.Is4() {
		return u128{}
	}
	a := int64(binary.BigEndian.Uint32(first.AsSlice()))
	b := int64(binary.BigEndian.Uint32(last.AsSlice()))
	// upTo counts x in [0, n] with x%256 == r.
	upTo := func(n, r int64) int64 {
		if n < r {
			return 0
		}
		return (n-r)/256 + 1
	}
	n := upTo(b, 0) - upTo(a-1, 0) + upTo(b, 255) - upTo(a-1, 255)
	return u128{0, uint64(n)}
}

// lastOf returns the highest address of a masked prefix.
func lastOf(p netip.Prefix) netip.Addr {
	a := p.Addr()
	if a.Is4() {
		v := binary.BigEndian.Uint32(a.AsSlice())
		if hostBits := 32 - p.Bits(); hostBits > 0 {
			v |= uint32(1)<<hostBits - 1
		}
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], v)
		return netip.AddrFrom4(b)
	}
	x := u128Of(a)
	hostBits := 128 - p.Bits()
	switch {
	case hostBits >= 128:
		x = maxU128
	case hostBits > 64:
		x.lo = math.MaxUint64
		x.hi |= uint64(1)<<(hostBits-64) - 1
	case hostBits == 64:
		x.lo = math.MaxUint64
	case hostBits > 0:
		x.lo |= uint64(1)<<hostBits - 1
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
	return netip.AddrFrom16(b)
}
