package allocator

import (
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
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

// Port is one Service port, for the sharing rules.
type Port struct {
	Protocol string // "TCP", "UDP", "SCTP"
	Port     int32
}

// String returns the port as people write it, e.g. "80/TCP".
func (p Port) String() string { return strconv.Itoa(int(p.Port)) + "/" + p.protocol() }

// protocol defaults to TCP, as Kubernetes does.
func (p Port) protocol() string {
	if p.Protocol == "" {
		return "TCP"
	}
	return strings.ToUpper(p.Protocol)
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

// namespace falls back to the namespace part of the Service key, so a
// caller that fills only Service still gets namespace rules right.
func (r *Request) namespace() string {
	if r.Namespace != "" {
		return r.Namespace
	}
	ns, _, _ := strings.Cut(r.Service, "/")
	return ns
}

// families returns the families the Service wants, in its order, and
// whether it insists on all of them. SingleStack wants the first family;
// PreferDualStack wants what spec.ipFamilies lists (both on a dual-stack
// cluster) and settles for fewer; RequireDualStack wants both.
func (r *Request) families() (want []Family, all bool, err error) {
	for _, f := range r.Families {
		if f != IPv4 && f != IPv6 {
			return nil, false, errorf(ErrInvalid, "service %s: unknown IP family %d in ipFamilies; use IPv4 or IPv6", r.Service, int(f))
		}
		if !slices.Contains(want, f) {
			want = append(want, f)
		}
	}
	if len(want) == 0 {
		want = []Family{IPv4}
	}
	switch r.FamilyPolicy {
	case "", SingleStack:
		return want[:1], true, nil
	case PreferDualStack:
		return want, false, nil
	case RequireDualStack:
		if len(want) == 1 {
			want = append(want, other(want[0]))
		}
		return want, true, nil
	}
	return nil, false, errorf(ErrInvalid, "service %s: unknown ipFamilyPolicy %q; use SingleStack, PreferDualStack or RequireDualStack", r.Service, string(r.FamilyPolicy))
}

func other(f Family) Family {
	if f == IPv4 {
		return IPv6
	}
	return IPv4
}

// requested parses RequestedIPs and checks them against the families the
// Service may have. It returns them ordered like want.
func (r *Request) requested(want []Family, all bool) ([]netip.Addr, error) {
	var ips []netip.Addr
	for _, raw := range r.RequestedIPs {
		raw = strings.TrimSpace(raw)
		ip, err := parseAddr(raw)
		if err != nil {
			return nil, errorf(ErrInvalid, "service %s: %s", r.Service, err.Error())
		}
		for _, have := range ips {
			if have == ip {
				return nil, errorf(ErrInvalid, "service %s: %s is requested twice; name it once", r.Service, ip)
			}
			if familyOf(have) == familyOf(ip) {
				return nil, errorf(ErrInvalid, "service %s: requests two %s addresses (%s and %s); request at most one per family", r.Service, familyOf(ip), have, ip)
			}
		}
		ips = append(ips, ip)
	}
	if len(ips) == 0 {
		return nil, nil
	}
	switch {
	case all && len(want) == 1 && len(ips) > 1:
		return nil, errorf(ErrInvalid, "service %s: requests %d addresses but is single-stack; request one, or set ipFamilyPolicy to PreferDualStack", r.Service, len(ips))
	case all && len(want) == 2 && len(ips) < 2:
		return nil, errorf(ErrInvalid, "service %s: requires dual-stack but requests only %s; request one IPv4 and one IPv6 address", r.Service, ips[0])
	}
	explicitFamilies := len(r.Families) > 0
	for _, ip := range ips {
		if explicitFamilies && !slices.Contains(want, familyOf(ip)) {
			return nil, errorf(ErrInvalid, "service %s: %s is %s but the Service's IP families are %s; request an address of its family or change spec.ipFamilies", r.Service, ip, familyOf(ip), familyList(want))
		}
	}
	if explicitFamilies {
		slices.SortStableFunc(ips, func(a, b netip.Addr) int {
			return slices.Index(want, familyOf(a)) - slices.Index(want, familyOf(b))
		})
	}
	return ips, nil
}

func familyList(fs []Family) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, f.String())
	}
	return strings.Join(parts, " and ")
}

// sharing is what the sharing rules need of a Service, copied so later
// changes to the caller's Request do not reach into the allocator.
type sharing struct {
	key      string
	ports    []Port
	local    bool
	selector map[string]string
}

func sharingOf(r *Request) sharing {
	return sharing{
		key:      r.SharingKey,
		ports:    slices.Clone(r.Ports),
		local:    r.TrafficPolicyLocal,
		selector: maps.Clone(r.Selector),
	}
}

func policyName(local bool) string {
	if local {
		return "Local"
	}
	return "Cluster"
}

// compatible checks whether a Service with sharing s may use an address
// also used by other (named otherName).
func (s *sharing) compatible(service string, ip netip.Addr, otherName string, other *sharing) error {
	switch {
	case s.key == "" && other.key == "":
		return errorf(ErrSharing, "service %s: %s is used by %s; give both Services the same allow-shared-ip key to share it, or request another address", service, ip, otherName)
	case s.key == "":
		return errorf(ErrSharing, "service %s: %s is used by %s with key %q; set allow-shared-ip to %q to share it, or request another address", service, ip, otherName, other.key, other.key)
	case other.key == "":
		return errorf(ErrSharing, "service %s: %s is used by %s, which does not allow sharing; request another address", service, ip, otherName)
	case s.key != other.key:
		return errorf(ErrSharing, "service %s: %s is used by %s with key %q, not %q; use the same key or another address", service, ip, otherName, other.key, s.key)
	}
	for _, p := range s.ports {
		for _, q := range other.ports {
			if p.Port == q.Port && p.protocol() == q.protocol() {
				return errorf(ErrSharing, "service %s: key %q is used by %s with port %s; Services sharing %s need different ports", service, s.key, otherName, p, ip)
			}
		}
	}
	if s.local != other.local {
		return errorf(ErrSharing, "service %s: key %q is used by %s with externalTrafficPolicy %s; Services sharing %s need the same externalTrafficPolicy", service, s.key, otherName, policyName(other.local), ip)
	}
	if s.local && !maps.Equal(s.selector, other.selector) {
		return errorf(ErrSharing, "service %s: key %q is used by %s with another selector; Services with externalTrafficPolicy Local share %s only when they select the same Pods", service, s.key, otherName, ip)
	}
	return nil
}
