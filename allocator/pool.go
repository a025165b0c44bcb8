package allocator

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// PoolSpec is what the controller copies out of an IPAddressPool.
type PoolSpec struct {
	Name          string
	Addresses     []string // CIDRs and "first-last" ranges, as written by the user
	AutoAssign    bool
	AvoidBuggyIPs bool
	// Allocation restrictions; HasAllocation is false when the pool has no
	// serviceAllocation (it then matches every Service, with no priority).
	HasAllocation      bool
	Priority           int32
	Namespaces         []string
	NamespaceSelectors []labels.Selector
	ServiceSelectors   []labels.Selector
}

// Pool is a parsed, immutable address pool.
type Pool struct {
	spec PoolSpec
	// spans are the pool's addresses, sorted (IPv4 before IPv6), merged
	// where the user's entries overlap or touch, so sizes count each
	// address once.
	spans []span
	has4  bool
	has6  bool
}

// NewPool parses spec. Errors name the pool and the fix, e.g.
// `pool "lan": 192.168.1.300 is not an IP` or
// `pool "lan": range 192.168.1.20-192.168.1.10 is reversed; write the lower address first`.
func NewPool(spec PoolSpec) (*Pool, error) {
	if len(spec.Addresses) == 0 {
		return nil, errorf(ErrInvalid, "pool %q has no addresses; add a CIDR such as 192.0.2.0/24 or a range such as 192.0.2.10-192.0.2.20 to spec.addresses", spec.Name)
	}
	p := &Pool{spec: spec}
	p.spec.Addresses = slices.Clone(spec.Addresses)
	p.spec.Namespaces = slices.Clone(spec.Namespaces)
	p.spec.NamespaceSelectors = slices.Clone(spec.NamespaceSelectors)
	p.spec.ServiceSelectors = slices.Clone(spec.ServiceSelectors)
	var all []span
	for _, entry := range spec.Addresses {
		first, last, err := ParseRange(entry)
		if err != nil {
			return nil, errorf(ErrInvalid, "pool %q: %s", spec.Name, err.Error())
		}
		all = append(all, span{first, last})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].first.Less(all[j].first) })
	for _, s := range all {
		if n := len(p.spans); n > 0 {
			prev := &p.spans[n-1]
			if prev.last.Compare(s.first) >= 0 || prev.last.Next() == s.first {
				if prev.last.Less(s.last) {
					prev.last = s.last
				}
				continue
			}
		}
		p.spans = append(p.spans, s)
	}
	for _, s := range p.spans {
		if s.first.Is4() {
			p.has4 = true
		} else {
			p.has6 = true
		}
	}
	return p, nil
}

// ParseRange parses one entry of a pool's addresses: a CIDR (host bits are
// ignored, as most people mean the network) or a range "first-last" of one
// family, with optional spaces around the '-'. It returns the first and last
// address. Errors wrap ErrInvalid and say what to write instead.
func ParseRange(entry string) (first, last netip.Addr, err error) {
	s, err := parseRange(entry)
	return s.first, s.last, err
}

func parseRange(entry string) (span, error) {
	s := strings.TrimSpace(entry)
	if strings.Count(s, "-") > 1 {
		return span{}, errorf(ErrInvalid, "%s has more than one dash; write a range as first-last", s)
	}
	if first, last, ok := strings.Cut(s, "-"); ok {
		a, err := parseAddr(strings.TrimSpace(first))
		if err != nil {
			return span{}, err
		}
		b, err := parseAddr(strings.TrimSpace(last))
		if err != nil {
			return span{}, err
		}
		if a.Is4() != b.Is4() {
			return span{}, errorf(ErrInvalid, "range %s-%s mixes IPv4 and IPv6; write one range per family", a, b)
		}
		if b.Less(a) {
			return span{}, errorf(ErrInvalid, "range %s-%s is reversed; write the lower address first", a, b)
		}
		return span{a, b}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return span{}, errorf(ErrInvalid, "%q is not a CIDR; write an address and a prefix length such as 192.0.2.0/24 or 2001:db8::/120", s)
		}
		if p.Addr().Is4In6() {
			return span{}, errorf(ErrInvalid, "%s is an IPv4-mapped IPv6 prefix; write the IPv4 form", s)
		}
		p = p.Masked()
		return span{p.Addr(), lastOf(p)}, nil
	}
	ip, err := parseAddr(s)
	if err != nil {
		return span{}, err
	}
	return span{}, errorf(ErrInvalid, "%s is a single address; write it as a CIDR (%s) or a range", s, netip.PrefixFrom(ip, ip.BitLen()))
}

// parseAddr parses an address the way a pool or a request may write it: no
// zone, no IPv4-mapped IPv6 form (which would belong to two families).
func parseAddr(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errorf(ErrInvalid, "%s is not an IP", printable(s))
	}
	if ip.Zone() != "" {
		return netip.Addr{}, errorf(ErrInvalid, "%s has a zone; drop the %%%s", s, ip.Zone())
	}
	if ip.Is4In6() {
		return netip.Addr{}, errorf(ErrInvalid, "%s is an IPv4-mapped IPv6 address; write it as %s", s, ip.Unmap())
	}
	return ip, nil
}

// printable quotes s when printing it bare would mislead (empty, spaces,
// control characters), and keeps the common case readable:
// "192.168.1.300 is not an IP".
func printable(s string) string {
	for _, r := range s {
		if r <= ' ' || r == '"' || r > '~' {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.spec.Name }

// Spec returns a copy of the spec the pool was parsed from.
func (p *Pool) Spec() PoolSpec {
	s := p.spec
	s.Addresses = slices.Clone(s.Addresses)
	s.Namespaces = slices.Clone(s.Namespaces)
	s.NamespaceSelectors = slices.Clone(s.NamespaceSelectors)
	s.ServiceSelectors = slices.Clone(s.ServiceSelectors)
	return s
}

// Has reports whether the pool has addresses of family f.
func (p *Pool) Has(f Family) bool {
	if f == IPv4 {
		return p.has4
	}
	return f == IPv6 && p.has6
}

// Contains reports whether ip is one of the pool's addresses (buggy IPs
// excluded when AvoidBuggyIPs is set).
func (p *Pool) Contains(ip netip.Addr) bool {
	if p == nil || !p.covers(ip) {
		return false
	}
	return !(p.spec.AvoidBuggyIPs && isBuggy(ip))
}

// covers reports whether ip lies in the pool's ranges, buggy or not.
func (p *Pool) covers(ip netip.Addr) bool {
	i := sort.Search(len(p.spans), func(i int) bool { return p.spans[i].last.Compare(ip) >= 0 })
	return i < len(p.spans) && p.spans[i].first.Compare(ip) <= 0
}

// size counts the pool's addresses of family f.
func (p *Pool) size(f Family) u128 {
	var n u128
	for _, s := range p.spans {
		if familyOf(s.first) != f {
			continue
		}
		n = n.add(rangeSize(s.first, s.last))
		if p.spec.AvoidBuggyIPs {
			n = n.sub(buggyCount(s.first, s.last))
		}
	}
	return n
}

// lowestFree returns the lowest address of family f that is in the pool and
// not in used. It jumps over whole runs of used addresses, so it does not
// slow down as a pool fills from the bottom.
func (p *Pool) lowestFree(f Family, used *runs) (netip.Addr, bool) {
	for _, s := range p.spans {
		if familyOf(s.first) != f {
			continue
		}
		ip := s.first
		for ip.IsValid() && ip.Compare(s.last) <= 0 {
			if p.spec.AvoidBuggyIPs && isBuggy(ip) {
				ip = ip.Next()
				continue
			}
			if r, ok := used.containing(ip); ok {
				ip = r.last.Next()
				continue
			}
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// serves reports whether the pool's serviceAllocation lets req use it:
// every list that is set must match; within a list, any entry may.
func (p *Pool) serves(req *Request) bool {
	if !p.spec.HasAllocation {
		return true
	}
	if len(p.spec.Namespaces) > 0 && !slices.Contains(p.spec.Namespaces, req.namespace()) {
		return false
	}
	if len(p.spec.NamespaceSelectors) > 0 && !anyMatches(p.spec.NamespaceSelectors, req.NamespaceLabels) {
		return false
	}
	if len(p.spec.ServiceSelectors) > 0 && !anyMatches(p.spec.ServiceSelectors, req.Labels) {
		return false
	}
	return true
}

func anyMatches(sels []labels.Selector, set map[string]string) bool {
	for _, s := range sels {
		if s != nil && s.Matches(labels.Set(set)) {
			return true
		}
	}
	return false
}

// Overlap reports the first address two pools share, if any; the controller
// marks the later pool (by creation order it passes) invalid.
func Overlap(a, b *Pool) (netip.Addr, bool) {
	if a == nil || b == nil {
		return netip.Addr{}, false
	}
	i, j := 0, 0
	for i < len(a.spans) && j < len(b.spans) {
		x, y := a.spans[i], b.spans[j]
		lo, hi := x.first, x.last
		if y.first.Compare(lo) > 0 {
			lo = y.first
		}
		if y.last.Compare(hi) < 0 {
			hi = y.last
		}
		// Buggy addresses come at most two in a row (x.255, x+1.0).
		for ip, n := lo, 0; ip.IsValid() && ip.Compare(hi) <= 0 && n < 3; ip, n = ip.Next(), n+1 {
			if a.Contains(ip) && b.Contains(ip) {
				return ip, true
			}
		}
		if x.last.Less(y.last) {
			i++
		} else {
			j++
		}
	}
	return netip.Addr{}, false
}
