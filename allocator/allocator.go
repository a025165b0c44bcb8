package allocator

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Assignment is the result of an allocation: one IP per family, all from
// one pool. The one exception is kept on purpose: a pool edit that leaves a
// dual-stack Service's two addresses in two different pools moves neither
// (addresses never change while a pool still covers them); Pool then names
// the pool of the first address.
type Assignment struct {
	IPs  []netip.Addr
	Pool string
}

func (a Assignment) clone() Assignment {
	return Assignment{IPs: slices.Clone(a.IPs), Pool: a.Pool}
}

// Stats counts a pool's addresses by family. Counts saturate at the largest
// uint64.
type Stats struct {
	AssignedIPv4, AvailableIPv4 uint64
	AssignedIPv6, AvailableIPv6 uint64
}

// holder is one Service's assignment plus what the sharing rules need.
type holder struct {
	service string
	share   sharing
	asg     Assignment
}

// Allocator holds the pools and the assignments. It is not safe for
// concurrent use; the controller calls it from its one worker.
type Allocator struct {
	pools   []*Pool // sorted by name, so every choice is deterministic
	byName  map[string]*Pool
	holders map[string]*holder
	// users maps each address in use to the Services using it.
	users map[netip.Addr]map[string]*holder
	// used holds the same addresses as users, as ordered runs, to find the
	// lowest free address without enumerating a pool.
	used runs
	// keyIPs counts, per sharing key, the Services using each address, so
	// a Service with a key finds the addresses it may join.
	keyIPs map[string]map[netip.Addr]int
}

// New returns an empty allocator.
func New() *Allocator {
	return &Allocator{
		byName:  map[string]*Pool{},
		holders: map[string]*holder{},
		users:   map[netip.Addr]map[string]*holder{},
		keyIPs:  map[string]map[netip.Addr]int{},
	}
}

// SetPools replaces the pool set. Assignments stay; it returns the Services
// (keys) whose IPs no longer lie in any pool, which the controller then
// releases and allocates anew (with an Event saying why).
//
// Pools are ordered by name; of two pools with one name the first wins, and
// nil pools are skipped. An assignment whose addresses are all still in some
// pool keeps them, even if its pool was renamed, restricted by a new
// serviceAllocation or set to autoAssign: false: a pool edit never moves a
// Service that need not move.
func (a *Allocator) SetPools(pools []*Pool) (orphaned []string) {
	a.pools = a.pools[:0]
	a.byName = map[string]*Pool{}
	for _, p := range pools {
		if p == nil {
			continue
		}
		if _, dup := a.byName[p.Name()]; dup {
			continue
		}
		a.byName[p.Name()] = p
		a.pools = append(a.pools, p)
	}
	sort.SliceStable(a.pools, func(i, j int) bool { return a.pools[i].Name() < a.pools[j].Name() })
	for _, name := range a.holderNames() {
		h := a.holders[name]
		if p := a.poolOf(h.asg.IPs, a.byName[h.asg.Pool]); p != nil {
			h.asg.Pool = p.Name()
			continue
		}
		orphaned = append(orphaned, name)
	}
	return orphaned
}

func (a *Allocator) holderNames() []string {
	names := make([]string, 0, len(a.holders))
	for name := range a.holders {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// poolOf returns the pool that holds every address of ips: prefer if it
// does, else the first by name, else nil. Addresses of a dual-stack
// assignment split over two pools (only possible after a pool edit) count
// as held by the pool of the first address, so the edit moves nothing.
func (a *Allocator) poolOf(ips []netip.Addr, prefer *Pool) *Pool {
	if len(ips) == 0 {
		return nil
	}
	holdsAll := func(p *Pool) bool {
		for _, ip := range ips {
			if !p.Contains(ip) {
				return false
			}
		}
		return true
	}
	if prefer != nil && holdsAll(prefer) {
		return prefer
	}
	for _, p := range a.pools {
		if holdsAll(p) {
			return p
		}
	}
	for _, ip := range ips {
		if a.poolFor(ip) == nil {
			return nil
		}
	}
	return a.poolFor(ips[0])
}

// poolFor returns the first pool, by name, that contains ip.
func (a *Allocator) poolFor(ip netip.Addr) *Pool {
	for _, p := range a.pools {
		if p.Contains(ip) {
			return p
		}
	}
	return nil
}

// notInPool explains why ip is in no pool.
func (a *Allocator) notInPool(service string, ip netip.Addr) error {
	for _, p := range a.pools {
		if p.covers(ip) {
			return errorf(ErrNotInPool, "service %s: %s is in pool %q but skipped by its avoidBuggyIPs; request another address or set avoidBuggyIPs: false", service, ip, p.Name())
		}
	}
	return errorf(ErrNotInPool, "service %s: %s is in no pool; add it to an IPAddressPool or drop spec.loadBalancerIP (or the loadBalancerIPs annotation)", service, ip)
}

// Assign records an existing assignment (from a Service's status, at start
// or after a pool edit) if it is still valid: every IP in some pool, sharing
// rules respected, families consistent with req. It is how a restart gives
// back the same state.
//
// Assign does not check what the Service asks for (requested IPs, pool
// annotation) nor the pool's autoAssign and serviceAllocation: the next
// Allocate moves the Service if its request changed, and pool settings
// only steer new choices. On error the Service's previous assignment, if
// any, stays.
func (a *Allocator) Assign(req Request, ips []netip.Addr) (Assignment, error) {
	want, all, err := req.families()
	if err != nil {
		return Assignment{}, err
	}
	if len(ips) == 0 {
		return Assignment{}, errorf(ErrInvalid, "service %s: no address to assign", req.Service)
	}
	for i, ip := range ips {
		if !ip.IsValid() || ip.Zone() != "" || ip.Is4In6() {
			return Assignment{}, errorf(ErrInvalid, "service %s: %s is not an address a pool can hold", req.Service, printable(ip.String()))
		}
		for _, prev := range ips[:i] {
			if familyOf(prev) == familyOf(ip) {
				return Assignment{}, errorf(ErrInvalid, "service %s: has two %s addresses (%s and %s); a Service has at most one per family", req.Service, familyOf(ip), prev, ip)
			}
		}
		if len(req.Families) > 0 && !slices.Contains(want, familyOf(ip)) {
			return Assignment{}, errorf(ErrInvalid, "service %s: %s is %s but the Service's IP families are %s", req.Service, ip, familyOf(ip), familyList(want))
		}
	}
	if all && len(ips) != len(want) {
		return Assignment{}, errorf(ErrInvalid, "service %s: has %d addresses but its ipFamilyPolicy needs %d", req.Service, len(ips), len(want))
	}
	for _, ip := range ips {
		if a.poolFor(ip) == nil {
			return Assignment{}, a.notInPool(req.Service, ip)
		}
	}
	p := a.poolOf(ips, nil)
	share := sharingOf(&req)
	for _, ip := range ips {
		if err := a.checkSharing(req.Service, &share, ip); err != nil {
			return Assignment{}, err
		}
	}
	if old := a.holders[req.Service]; old != nil {
		a.unrecord(old)
	}
	h := &holder{service: req.Service, share: share, asg: Assignment{IPs: slices.Clone(ips), Pool: p.Name()}}
	a.record(h)
	return h.asg.clone(), nil
}

// Allocate returns the Service's assignment, choosing one if it has none or
// if the one it has no longer satisfies req (requested IP or pool changed,
// sharing key changed, ...). Idempotent: calling it again with the same
// request returns the same IPs. Errors name the Service, the pool and the
// fix.
//
// A Service keeps its addresses while they are in a pool and fit what it
// asks for; a PreferDualStack Service missing a family gets it added when
// its pool has one free. When a new choice fails, the previous assignment
// stays and the error says why.
func (a *Allocator) Allocate(req Request) (Assignment, error) {
	want, all, err := req.families()
	if err != nil {
		return Assignment{}, err
	}
	reqIPs, err := req.requested(want, all)
	if err != nil {
		return Assignment{}, err
	}
	share := sharingOf(&req)
	old := a.holders[req.Service]
	if old != nil && a.fits(old, &req, reqIPs, want, all, &share) {
		a.unrecord(old)
		old.share = share
		if !all && len(reqIPs) == 0 {
			a.topUp(old, want)
		}
		a.record(old)
		return old.asg.clone(), nil
	}
	if old != nil {
		a.unrecord(old)
	}
	asg, err := a.choose(&req, reqIPs, want, all, &share)
	if err != nil {
		if old != nil {
			a.record(old)
		}
		return Assignment{}, err
	}
	h := &holder{service: req.Service, share: share, asg: asg}
	a.record(h)
	return asg.clone(), nil
}

// fits reports whether h's assignment still satisfies the request.
func (a *Allocator) fits(h *holder, req *Request, reqIPs []netip.Addr, want []Family, all bool, share *sharing) bool {
	asg := h.asg
	p := a.byName[asg.Pool]
	if p == nil || len(asg.IPs) == 0 {
		return false
	}
	if a.poolOf(asg.IPs, p) != p {
		return false
	}
	if req.Pool != "" && req.Pool != asg.Pool {
		return false
	}
	if len(reqIPs) > 0 {
		if len(reqIPs) != len(asg.IPs) {
			return false
		}
		for _, ip := range reqIPs {
			if !slices.Contains(asg.IPs, ip) {
				return false
			}
		}
	} else {
		for _, ip := range asg.IPs {
			if !slices.Contains(want, familyOf(ip)) {
				return false
			}
		}
		if all && len(asg.IPs) != len(want) {
			return false
		}
	}
	for _, ip := range asg.IPs {
		if a.checkSharing(req.Service, share, ip) != nil {
			return false
		}
	}
	return true
}

// topUp adds the families a PreferDualStack Service lacks, from its pool,
// when there is a free address; it never changes the addresses it has.
func (a *Allocator) topUp(h *holder, want []Family) {
	p := a.byName[h.asg.Pool]
	changed := false
	for _, f := range want {
		if !p.Has(f) || slices.ContainsFunc(h.asg.IPs, func(ip netip.Addr) bool { return familyOf(ip) == f }) {
			continue
		}
		if ip, ok := a.pick(p, f, h.service, &h.share); ok {
			h.asg.IPs = append(h.asg.IPs, ip)
			changed = true
		}
	}
	if changed {
		slices.SortStableFunc(h.asg.IPs, func(x, y netip.Addr) int {
			return slices.Index(want, familyOf(x)) - slices.Index(want, familyOf(y))
		})
	}
}

// choose picks a new assignment; the Service's old addresses are already
// out of the books.
func (a *Allocator) choose(req *Request, reqIPs []netip.Addr, want []Family, all bool, share *sharing) (Assignment, error) {
	var named *Pool
	if req.Pool != "" {
		named = a.byName[req.Pool]
		if named == nil {
			return Assignment{}, errorf(ErrUnknownPool, "service %s: pool %q named by the address-pool annotation does not exist; create it or fix the annotation", req.Service, req.Pool)
		}
	}
	if len(reqIPs) > 0 {
		return a.chooseRequested(req, reqIPs, named, share)
	}
	if named != nil {
		if !named.serves(req) {
			return Assignment{}, notServed(req, named)
		}
		return a.pickFrom(req, named, want, all, share)
	}
	candidates := a.candidates(req)
	if len(candidates) == 0 {
		return Assignment{}, errorf(ErrNoPool, "service %s: no pool assigns addresses to it automatically; create an IPAddressPool with autoAssign: true (and a serviceAllocation that selects it, if any), or name a pool with the leaselb.io/address-pool annotation", req.Service)
	}
	var errs []error
	for _, p := range candidates {
		asg, err := a.pickFrom(req, p, want, all, share)
		if err == nil {
			return asg, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return Assignment{}, errs[0]
	}
	names := make([]string, len(candidates))
	for i, p := range candidates {
		names[i] = quote(p.Name())
	}
	for _, err := range errs {
		if isKind(err, ErrNoFreeIP) {
			return Assignment{}, errorf(ErrNoFreeIP, "service %s: pools %s have no free %s address; add addresses to a pool or free some", req.Service, strings.Join(names, ", "), familyWord(want, all))
		}
	}
	return Assignment{}, errorf(ErrNoPool, "service %s: none of the pools %s offers %s addresses; add a range of that family to a pool or change the Service's ipFamilies", req.Service, strings.Join(names, ", "), familyWord(want, all))
}

func familyWord(want []Family, all bool) string {
	if all {
		return familyList(want)
	}
	parts := make([]string, len(want))
	for i, f := range want {
		parts[i] = f.String()
	}
	return strings.Join(parts, " or ")
}

func quote(s string) string { return strconv.Quote(s) }

func isKind(err, kind error) bool {
	e, ok := err.(*allocError)
	return ok && e.kind == kind
}

func notServed(req *Request, p *Pool) error {
	return errorf(ErrNoPool, "service %s: pool %q does not serve it: its serviceAllocation does not select namespace %s or the Service's labels; change the pool's serviceAllocation or use another pool", req.Service, p.Name(), req.namespace())
}

// chooseRequested checks the addresses the Service asks for.
func (a *Allocator) chooseRequested(req *Request, reqIPs []netip.Addr, named *Pool, share *sharing) (Assignment, error) {
	for _, ip := range reqIPs {
		if a.poolFor(ip) == nil {
			return Assignment{}, a.notInPool(req.Service, ip)
		}
	}
	p := named
	if p != nil {
		for _, ip := range reqIPs {
			if !p.Contains(ip) {
				where := "no other pool"
				if q := a.poolFor(ip); q != nil {
					where = "pool " + quote(q.Name())
				}
				return Assignment{}, errorf(ErrNotInPool, "service %s: %s is in %s, not in pool %q named by the address-pool annotation; request an address of pool %q or drop the annotation", req.Service, ip, where, p.Name(), p.Name())
			}
		}
	} else if p = a.poolOf(reqIPs, nil); p == nil || !p.Contains(reqIPs[len(reqIPs)-1]) {
		return Assignment{}, errorf(ErrInvalid, "service %s: requested addresses %s and %s are in different pools (%q and %q); request addresses of one pool", req.Service, reqIPs[0], reqIPs[1], a.poolFor(reqIPs[0]).Name(), a.poolFor(reqIPs[1]).Name())
	}
	if !p.serves(req) {
		return Assignment{}, notServed(req, p)
	}
	for _, ip := range reqIPs {
		if err := a.checkSharing(req.Service, share, ip); err != nil {
			return Assignment{}, err
		}
	}
	return Assignment{IPs: slices.Clone(reqIPs), Pool: p.Name()}, nil
}

// candidates lists the pools that may serve req without being asked:
// auto-assign pools whose serviceAllocation selects it, by priority then
// name, then auto-assign pools without serviceAllocation, by name.
func (a *Allocator) candidates(req *Request) []*Pool {
	var selected, rest []*Pool
	for _, p := range a.pools {
		switch {
		case !p.spec.AutoAssign:
		case !p.spec.HasAllocation:
			rest = append(rest, p)
		case p.serves(req):
			selected = append(selected, p)
		}
	}
	sort.SliceStable(selected, func(i, j int) bool { return selected[i].spec.Priority < selected[j].spec.Priority })
	return append(selected, rest...)
}

// pickFrom picks one address per wanted family from p.
func (a *Allocator) pickFrom(req *Request, p *Pool, want []Family, all bool, share *sharing) (Assignment, error) {
	var fams []Family
	for _, f := range want {
		if p.Has(f) {
			fams = append(fams, f)
		} else if all {
			return Assignment{}, errorf(ErrNoPool, "service %s: pool %q has no %s addresses but the Service needs %s; add a %s range to the pool or change the Service's ipFamilyPolicy", req.Service, p.Name(), f, familyList(want), f)
		}
	}
	if len(fams) == 0 {
		return Assignment{}, errorf(ErrNoPool, "service %s: pool %q has no %s addresses; add a range of that family to the pool or use another pool", req.Service, p.Name(), familyWord(want, all))
	}
	asg := Assignment{Pool: p.Name()}
	for _, f := range fams {
		ip, ok := a.pick(p, f, req.Service, share)
		if !ok {
			if all {
				return Assignment{}, errorf(ErrNoFreeIP, "service %s: pool %q has no free %s address; add addresses to the pool or free some", req.Service, p.Name(), f)
			}
			continue
		}
		asg.IPs = append(asg.IPs, ip)
	}
	if len(asg.IPs) == 0 {
		return Assignment{}, errorf(ErrNoFreeIP, "service %s: pool %q has no free %s address; add addresses to the pool or free some", req.Service, p.Name(), familyWord(fams, false))
	}
	return asg, nil
}

// pick returns an address of family f from p: for a Service with a sharing
// key, the lowest address its key already uses that it may join; else the
// lowest free one.
func (a *Allocator) pick(p *Pool, f Family, service string, share *sharing) (netip.Addr, bool) {
	if share.key != "" {
		var shared []netip.Addr
		for ip := range a.keyIPs[share.key] {
			if familyOf(ip) == f && p.Contains(ip) {
				shared = append(shared, ip)
			}
		}
		slices.SortFunc(shared, netip.Addr.Compare)
		for _, ip := range shared {
			if a.checkSharing(service, share, ip) == nil {
				return ip, true
			}
		}
	}
	return p.lowestFree(f, &a.used)
}

// checkSharing checks that every other Service using ip may share it with
// service; the first conflict, by Service name, is the error.
func (a *Allocator) checkSharing(service string, share *sharing, ip netip.Addr) error {
	users := a.users[ip]
	if len(users) == 0 {
		return nil
	}
	names := make([]string, 0, len(users))
	for name := range users {
		if name != service {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if err := share.compatible(service, ip, name, &users[name].share); err != nil {
			return err
		}
	}
	return nil
}

func (a *Allocator) record(h *holder) {
	a.holders[h.service] = h
	for _, ip := range h.asg.IPs {
		users := a.users[ip]
		if users == nil {
			users = map[string]*holder{}
			a.users[ip] = users
			a.used.add(ip)
		}
		users[h.service] = h
		if h.share.key != "" {
			ips := a.keyIPs[h.share.key]
			if ips == nil {
				ips = map[netip.Addr]int{}
				a.keyIPs[h.share.key] = ips
			}
			ips[ip]++
		}
	}
}

func (a *Allocator) unrecord(h *holder) {
	delete(a.holders, h.service)
	for _, ip := range h.asg.IPs {
		users := a.users[ip]
		delete(users, h.service)
		if len(users) == 0 {
			delete(a.users, ip)
			a.used.remove(ip)
		}
		if h.share.key != "" {
			ips := a.keyIPs[h.share.key]
			if ips[ip]--; ips[ip] <= 0 {
				delete(ips, ip)
			}
			if len(ips) == 0 {
				delete(a.keyIPs, h.share.key)
			}
		}
	}
}

// Release frees the Service's IPs (shared IPs stay with the other
// Services).
func (a *Allocator) Release(service string) {
	if h := a.holders[service]; h != nil {
		a.unrecord(h)
	}
}

// Assigned returns the Service's current assignment, if any.
func (a *Allocator) Assigned(service string) (Assignment, bool) {
	h := a.holders[service]
	if h == nil {
		return Assignment{}, false
	}
	return h.asg.clone(), true
}

// Stats returns per-pool counts, by pool name. An address in use counts as
// assigned in every pool that contains it, whichever Service holds it.
func (a *Allocator) Stats() map[string]Stats {
	out := make(map[string]Stats, len(a.pools))
	for _, p := range a.pools {
		var used4, used6 u128
		for _, s := range p.spans {
			n := a.used.countIn(s.first, s.last, p.spec.AvoidBuggyIPs)
			if s.first.Is4() {
				used4 = used4.add(n)
			} else {
				used6 = used6.add(n)
			}
		}
		out[p.Name()] = Stats{
			AssignedIPv4:  used4.uint64(),
			AvailableIPv4: p.size(IPv4).sub(used4).uint64(),
			AssignedIPv6:  used6.uint64(),
			AvailableIPv6: p.size(IPv6).sub(used6).uint64(),
		}
	}
	return out
}
