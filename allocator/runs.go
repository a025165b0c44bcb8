package allocator

import (
	"net/netip"
	"sort"
)

// span is an inclusive run of addresses of one family.
type span struct{ first, last netip.Addr }

// runs is an ordered set of addresses kept as sorted, disjoint,
// non-adjacent spans. Services handed the lowest free address fill a pool
// from the bottom, so the addresses in use collapse into a few spans and
// finding the next free one costs a binary search, whatever the pool size.
type runs struct{ spans []span }

// find returns the index of the first span whose last address is >= ip.
func (r *runs) find(ip netip.Addr) int {
	return sort.Search(len(r.spans), func(i int) bool { return r.spans[i].last.Compare(ip) >= 0 })
}

// containing returns the span that holds ip, if any.
func (r *runs) containing(ip netip.Addr) (span, bool) {
	i := r.find(ip)
	if i < len(r.spans) && r.spans[i].first.Compare(ip) <= 0 {
		return r.spans[i], true
	}
	return span{}, false
}

func (r *runs) contains(ip netip.Addr) bool {
	_, ok := r.containing(ip)
	return ok
}

// add puts ip into the set, merging it with neighbouring spans.
func (r *runs) add(ip netip.Addr) {
	i := r.find(ip)
	if i < len(r.spans) && r.spans[i].first.Compare(ip) <= 0 {
		return
	}
	joinsNext := i < len(r.spans) && ip.Next() == r.spans[i].first
	joinsPrev := i > 0 && r.spans[i-1].last.Next() == ip
	switch {
	case joinsPrev && joinsNext:
		r.spans[i-1].last = r.spans[i].last
		r.spans = append(r.spans[:i], r.spans[i+1:]...)
	case joinsPrev:
		r.spans[i-1].last = ip
	case joinsNext:
		r.spans[i].first = ip
	default:
		r.spans = append(r.spans, span{})
		copy(r.spans[i+1:], r.spans[i:])
		r.spans[i] = span{ip, ip}
	}
}

// remove takes ip out of the set, splitting its span if needed.
func (r *runs) remove(ip netip.Addr) {
	i := r.find(ip)
	if i == len(r.spans) || r.spans[i].first.Compare(ip) > 0 {
		return
	}
	s := r.spans[i]
	switch {
	case s.first == ip && s.last == ip:
		r.spans = append(r.spans[:i], r.spans[i+1:]...)
	case s.first == ip:
		r.spans[i].first = ip.Next()
	case s.last == ip:
		r.spans[i].last = ip.Prev()
	default:
		r.spans = append(r.spans, span{})
		copy(r.spans[i+1:], r.spans[i:])
		r.spans[i] = span{s.first, ip.Prev()}
		r.spans[i+1] = span{ip.Next(), s.last}
	}
}

// countIn counts the addresses of the set from first to last inclusive.
func (r *runs) countIn(first, last netip.Addr, skipBuggy bool) u128 {
	var n u128
	for i := r.find(first); i < len(r.spans); i++ {
		s := r.spans[i]
		if s.first.Compare(last) > 0 {
			break
		}
		lo, hi := s.first, s.last
		if lo.Compare(first) < 0 {
			lo = first
		}
		if hi.Compare(last) > 0 {
			hi = last
		}
		n = n.add(rangeSize(lo, hi))
		if skipBuggy {
			n = n.sub(buggyCount(lo, hi))
		}
	}
	return n
}
