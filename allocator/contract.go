package allocator

// CONTRACT FILE (temporary): the exported surface the controller codes
// against. The allocator implementation replaces the bodies below and may
// move these declarations to other files of the package, but must keep the
// names, fields and signatures (adding fields or methods is fine).

import (
	"net/netip"

	"k8s.io/apimachinery/pkg/labels"
)

// Family is an IP family.
type Family int

// The two IP families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// FamilyPolicy mirrors Service spec.ipFamilyPolicy.
type FamilyPolicy string

// The Service IP family policies.
const (
	SingleStack      FamilyPolicy = "SingleStack"
	PreferDualStack  FamilyPolicy = "PreferDualStack"
	RequireDualStack FamilyPolicy = "RequireDualStack"
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
type Pool struct{ /* implementation-defined */ }

// NewPool parses spec. Errors name the pool and the fix, e.g.
// `pool "lan": 192.168.1.300 is not an IP` or
// `pool "lan": range 192.168.1.20-192.168.1.10 is reversed; write the lower address first`.
func NewPool(spec PoolSpec) (*Pool, error) { panic("unimplemented") }

// Name returns the pool's name.
func (p *Pool) Name() string { panic("unimplemented") }

// Contains reports whether ip is one of the pool's addresses (buggy IPs
// excluded when AvoidBuggyIPs is set).
func (p *Pool) Contains(ip netip.Addr) bool { panic("unimplemented") }

// Overlap reports the first address two pools share, if any; the controller
// marks the later pool (by creation order it passes) invalid.
func Overlap(a, b *Pool) (netip.Addr, bool) { panic("unimplemented") }

// Port is one Service port, for the sharing rules.
type Port struct {
	Protocol string // "TCP", "UDP", "SCTP"
	Port     int32
}

// Request describes a Service that needs (or has) IPs.
type Request struct {
	Service         string // "namespace/name", used in errors and as the key
	Namespace       string
	Labels          map[string]string // the Service's labels
	NamespaceLabels map[string]string
	// RequestedIPs are the raw strings from spec.loadBalancerIP or the
	// loadBalancerIPs annotation (at most one per family); parse errors are
	// the allocator's to report ("192.168.1.300 is not an IP").
	RequestedIPs []string
	Pool         string // the address-pool annotation, or ""
	SharingKey   string // the allow-shared-ip annotation, or ""
	Ports        []Port
	// TrafficPolicyLocal is externalTrafficPolicy: Local; Services sharing
	// an IP must agree on it, and Local ones must have the same Selector.
	TrafficPolicyLocal bool
	Selector           map[string]string
	// Families is spec.ipFamilies in order (empty means the cluster default,
	// IPv4); FamilyPolicy is spec.ipFamilyPolicy ("" means SingleStack).
	Families     []Family
	FamilyPolicy FamilyPolicy
}

// Assignment is the result of an allocation: one IP per family, all from
// one pool.
type Assignment struct {
	IPs  []netip.Addr
	Pool string
}

// Stats counts a pool's addresses by family. Counts saturate at the largest
// uint64.
type Stats struct {
	AssignedIPv4, AvailableIPv4 uint64
	AssignedIPv6, AvailableIPv6 uint64
}

// Allocator holds the pools and the assignments. It is not safe for
// concurrent use; the controller calls it from its one worker.
type Allocator struct{ /* implementation-defined */ }

// New returns an empty allocator.
func New() *Allocator { panic("unimplemented") }

// SetPools replaces the pool set. Assignments stay; it returns the Services
// (keys) whose IPs no longer lie in any pool, which the controller then
// releases and allocates anew (with an Event saying why).
func (a *Allocator) SetPools(pools []*Pool) (orphaned []string) { panic("unimplemented") }

// Assign records an existing assignment (from a Service's status, at start
// or after a pool edit) if it is still valid: every IP in some pool, sharing
// rules respected, families consistent with req. It is how a restart gives
// back the same state.
func (a *Allocator) Assign(req Request, ips []netip.Addr) (Assignment, error) { panic("unimplemented") }

// Allocate returns the Service's assignment, choosing one if it has none or
// if the one it has no longer satisfies req (requested IP or pool changed,
// sharing key changed, ...). Idempotent: calling it again with the same
// request returns the same IPs. Errors name the Service, the pool and the
// fix.
func (a *Allocator) Allocate(req Request) (Assignment, error) { panic("unimplemented") }

// Release frees the Service's IPs (shared IPs stay with the other
// Services).
func (a *Allocator) Release(service string) { panic("unimplemented") }

// Assigned returns the Service's current assignment, if any.
func (a *Allocator) Assigned(service string) (Assignment, bool) { panic("unimplemented") }

// Stats returns per-pool counts, by pool name.
func (a *Allocator) Stats() map[string]Stats { panic("unimplemented") }
