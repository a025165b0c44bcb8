package speaker

import (
	"fmt"
	"hash/maphash"
	"net/netip"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/leaselb/leaselb/allocator"
	"github.com/leaselb/leaselb/api/v1alpha1"
	"github.com/leaselb/leaselb/election"
	"github.com/leaselb/leaselb/l2"
)

// A Reason says why a node is not a candidate for a group (or why a Service
// forms no group), or why it stopped announcing one. The values appear in
// logs, metrics and Released Events, and are handed to the election as
// GroupSpec.Reason.
type Reason string

func (r Reason) String() string { return string(r) }

// The reasons, in the order Decide checks them.
const (
	// ReasonNotOurClass: the Service has another spec.loadBalancerClass (or
	// none while --require-class is set).
	ReasonNotOurClass Reason = "notOurClass"
	// ReasonNoIP: the Service has no IP in status.loadBalancer.ingress yet.
	ReasonNoIP Reason = "noIP"
	// ReasonNoAdvertisement: no L2Advertisement covers the pool of any of the
	// group's IPs (or an IP is in no known pool).
	ReasonNoAdvertisement Reason = "noAdvertisement"
	// ReasonNodeUnknown: the Node object of this node is not in the cache.
	ReasonNodeUnknown Reason = "nodeUnknown"
	// ReasonNodeExcluded: the node carries the label
	// node.kubernetes.io/exclude-from-external-load-balancers.
	ReasonNodeExcluded Reason = "nodeExcluded"
	// ReasonNodeCordoned: the node is cordoned (spec.unschedulable, as
	// `kubectl cordon` and `kubectl drain` set it). A drain announces that
	// the node is about to go down; its VIPs move while its speaker still
	// runs, so the handover is a graceful release, not a lapse.
	ReasonNodeCordoned Reason = "nodeCordoned"
	// ReasonNetworkUnavailable: the node's NetworkUnavailable condition is True.
	ReasonNetworkUnavailable Reason = "networkUnavailable"
	// ReasonNodeNotSelected: the advertisements covering an IP of the group
	// all have nodeSelectors that do not match the node.
	ReasonNodeNotSelected Reason = "nodeNotSelected"
	// ReasonNoLocalEndpoint: the group has externalTrafficPolicy: Local
	// Services and the node has no usable endpoint of any of them.
	ReasonNoLocalEndpoint Reason = "noLocalEndpoint"
	// ReasonNoInterface: the node has no usable interface (up, and by
	// damping counted as up; named by the advertisements or, by default,
	// with an address in the IP's subnet) for some IP of the group. Judged
	// only by the node's own speaker, which knows its links (Inputs.Wire).
	ReasonNoInterface Reason = "noInterface"
)

// ReasonCandidate is the metric label of groups this node is a candidate for.
const ReasonCandidate Reason = "candidate"

// Why this node stopped announcing a group, besides the candidacy reasons
// (see loop.releaseReason). Fenced and shutdown are the election's words.
const (
	ReasonShutdown            = Reason(election.ReasonShutdown)
	ReasonFenced              = Reason(election.ReasonFenced)
	ReasonGroupRemoved Reason = "groupRemoved"
	ReasonTakenOver    Reason = "takenOver"
	ReasonLeaseLost    Reason = "leaseLost"
)

// ReasonStaleView: one of this node's caches may be out of date (a watch
// failed and the API server has not accepted a new one yet), so it claims
// nothing new; it keeps what it holds. See Freshness.
const ReasonStaleView Reason = "staleView"

// allReasons lists every Reason, for metrics that report zero counts too.
var allReasons = []Reason{ReasonNotOurClass, ReasonNoIP, ReasonNoAdvertisement, ReasonNodeUnknown,
	ReasonNodeExcluded, ReasonNodeCordoned, ReasonNetworkUnavailable, ReasonNodeNotSelected, ReasonNoLocalEndpoint, ReasonNoInterface, ReasonStaleView}

// Inputs are the objects candidacy depends on, as the informers' caches
// hold them.
type Inputs struct {
	Nodes          []*corev1.Node
	Pools          []*v1alpha1.IPAddressPool
	Advertisements []*v1alpha1.L2Advertisement
	EndpointSlices []*discoveryv1.EndpointSlice
	// IgnoreExcludeLabel lets nodes labelled
	// node.kubernetes.io/exclude-from-external-load-balancers announce:
	// kubeadm puts that label on control-plane nodes, which are all the
	// nodes of many homelabs. Every speaker must agree on it (it decides
	// every node's candidacy, not only its own), so it is one DaemonSet flag.
	IgnoreExcludeLabel bool
	// Wire is what one node knows of its own interfaces. Nil means nobody's
	// interfaces are known (doctor): ReasonNoInterface is then never given.
	Wire *Wire
}

// Wire is one node's interfaces as its speaker sees them.
type Wire struct {
	// Node is the node whose links these are; the interfaces of every other
	// node are not judged (their own speakers judge them).
	Node string
	// Links are the node's interfaces, damped (linkDamper): a link still in
	// its hold-down after coming back is not Up.
	Links []l2.Link
}

// A Decision is whether a node may announce a group and, if so, what.
type Decision struct {
	// Candidate is true when the node may hold the group.
	Candidate bool
	// Reason says why not, when !Candidate.
	Reason Reason
	// Message says the same for a person: the object and the fix.
	Message string
	// IPs are the group's IPs that some L2Advertisement covers; the others
	// are in pools nobody announces and are left out.
	IPs []netip.Addr
	// Interfaces are, per IP, the interfaces the advertisements selecting
	// the node name (the union); nil means the announcer's default choice.
	Interfaces map[netip.Addr][]string
	// Links are, per IP, the interfaces that can announce it now by the
	// Wire (l2.ChooseInterfaces on the damped links); nil when the node's
	// interfaces are not known.
	Links map[netip.Addr][]string
}

// World is the cluster as candidacy sees it, indexed once so that deciding
// every (node, group) pair stays cheap with a thousand groups. It is
// read-only after NewWorld.
type World struct {
	nodes     map[string]*corev1.Node
	nodeFacts map[string]nodeView
	nodeNames []string
	pools     []poolView
	ads       []adView
	// endpoints by Service key (namespace/name).
	endpoints map[string]*serviceEndpoints
	wire      *Wire
}

type poolView struct {
	name   string
	ranges [][2]netip.Addr
	ads    []int // indexes into World.ads of the advertisements covering it
}

type adView struct {
	name       string
	interfaces []string
	selected   map[string]bool // node names it selects, computed once
}

// nodeView is the part of a decision that depends on the node alone.
type nodeView struct {
	reason Reason
	msg    string
}

type serviceEndpoints struct {
	ready, serving map[string]bool // node names with a ready / serving endpoint
}

// NewWorld indexes in. Objects with errors (a pool entry that does not
// parse, a selector that does not parse) are tolerated: the bad part counts
// for nothing, and the controller reports it in the object's status.
func NewWorld(in Inputs) *World {
	w := &World{nodes: map[string]*corev1.Node{}, nodeFacts: map[string]nodeView{}, endpoints: map[string]*serviceEndpoints{}, wire: in.Wire}
	for _, n := range in.Nodes {
		w.nodes[n.Name] = n
		w.nodeNames = append(w.nodeNames, n.Name)
	}
	sort.Strings(w.nodeNames)

	ads := slices.Clone(in.Advertisements)
	slices.SortFunc(ads, func(a, b *v1alpha1.L2Advertisement) int { return strings.Compare(a.Name, b.Name) })
	poolSels := make([][]labels.Selector, len(ads))
	for i, ad := range ads {
		v := adView{name: ad.Name, interfaces: slices.Clone(ad.Spec.Interfaces)}
		var nodeSels []labels.Selector // those that parse; a bad one matches nothing
		for _, s := range ad.Spec.NodeSelectors {
			if sel, err := s.AsSelector(); err == nil {
				nodeSels = append(nodeSels, sel)
			}
		}
		for _, s := range ad.Spec.IPAddressPoolSelectors {
			if sel, err := s.AsSelector(); err == nil {
				poolSels[i] = append(poolSels[i], sel)
			}
		}
		v.selected = map[string]bool{}
		for _, n := range in.Nodes {
			if ad.SelectsNode(n.Labels, nodeSels) {
				v.selected[n.Name] = true
			}
		}
		w.ads = append(w.ads, v)
	}
	for _, n := range in.Nodes {
		w.nodeFacts[n.Name] = nodeFactsOf(n, in.IgnoreExcludeLabel)
	}

	pools := slices.Clone(in.Pools)
	slices.SortFunc(pools, func(a, b *v1alpha1.IPAddressPool) int { return strings.Compare(a.Name, b.Name) })
	for _, p := range pools {
		v := poolView{name: p.Name}
		for _, a := range p.Spec.Addresses {
			first, last, err := allocator.ParseRange(string(a))
			if err != nil {
				continue
			}
			v.ranges = append(v.ranges, [2]netip.Addr{first, last})
		}
		for i, ad := range ads {
			if ad.Covers(p, poolSels[i]) {
				v.ads = append(v.ads, i)
			}
		}
		w.pools = append(w.pools, v)
	}

	for _, s := range in.EndpointSlices {
		svc := s.Labels[discoveryv1.LabelServiceName]
		if svc == "" || s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		key := s.Namespace + "/" + svc
		e := w.endpoints[key]
		if e == nil {
			e = &serviceEndpoints{ready: map[string]bool{}, serving: map[string]bool{}}
			w.endpoints[key] = e
		}
		for _, ep := range s.Endpoints {
			if ep.NodeName == nil || *ep.NodeName == "" || len(ep.Addresses) == 0 {
				continue
			}
			// A nil condition means unknown, which consumers must read as
			// true (discovery.k8s.io/v1 API); serving defaults to ready.
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			serving := ready
			if ep.Conditions.Serving != nil {
				serving = *ep.Conditions.Serving
			}
			if ready {
				e.ready[*ep.NodeName] = true
			}
			if serving {
				e.serving[*ep.NodeName] = true
			}
		}
	}
	return w
}

// NodeNames returns the names of every node the World knows, sorted.
func (w *World) NodeNames() []string { return w.nodeNames }

// poolOf returns the pool holding ip, or nil.
func (w *World) poolOf(ip netip.Addr) *poolView {
	for i := range w.pools {
		for _, r := range w.pools[i].ranges {
			if r[0].Compare(ip) <= 0 && ip.Compare(r[1]) <= 0 {
				return &w.pools[i]
			}
		}
	}
	return nil
}

// groupView is the part of a decision that does not depend on the node,
// computed once per group.
type groupView struct {
	w      *World
	g      Group
	reason Reason // group-level reason, if any
	msg    string
	ips    []netip.Addr // advertised IPs
	ads    [][]int      // per advertised IP, the covering advertisements
	local  []string     // keys of the group's externalTrafficPolicy: Local Services
}

func (w *World) view(g Group, requireClass bool) *groupView {
	v := &groupView{w: w, g: g}
	anyOurs := false
	for _, s := range g.Services {
		if v1alpha1.Serves(s, requireClass) {
			anyOurs = true
		}
		if s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
			v.local = append(v.local, serviceKey(s))
		}
	}
	switch {
	case !anyOurs:
		v.reason, v.msg = ReasonNotOurClass, fmt.Sprintf("group %s: no Service in it has spec.loadBalancerClass %q%s",
			g.Name, v1alpha1.LoadBalancerClass, classHint(requireClass))
		return v
	case len(g.IPs) == 0:
		v.reason, v.msg = ReasonNoIP, fmt.Sprintf("group %s: no IP in status.loadBalancer.ingress yet; the controller assigns one", g.Name)
		return v
	}
	var missing []string
	for _, ip := range g.IPs {
		p := w.poolOf(ip)
		switch {
		case p == nil:
			missing = append(missing, fmt.Sprintf("%s is in no IPAddressPool", ip))
		case len(p.ads) == 0:
			missing = append(missing, fmt.Sprintf("%s is in IPAddressPool %q, which no L2Advertisement covers", ip, p.name))
		default:
			v.ips = append(v.ips, ip)
			v.ads = append(v.ads, p.ads)
		}
	}
	if len(v.ips) == 0 {
		v.reason = ReasonNoAdvertisement
		v.msg = fmt.Sprintf("group %s is not announced: %s; create an L2Advertisement for the pool", g.Name, strings.Join(missing, "; "))
	}
	return v
}

func classHint(requireClass bool) string {
	if requireClass {
		return " (--require-class is set, so Services without a class are not ours)"
	}
	return " or none"
}

// Decide decides whether node may announce group g, and if not, why. It is
// a pure function of the World, the group and requireClass. The checks run
// in the order of the Reason constants; the first that fails is the reason.
func (w *World) Decide(node string, g Group, requireClass bool) Decision {
	return w.view(g, requireClass).decide(node)
}

// Candidates returns every node the World knows that Decide makes a
// candidate for g, sorted.
func (w *World) Candidates(g Group, requireClass bool) []string {
	return w.view(g, requireClass).candidates()
}

func (v *groupView) candidates() []string { return v.appendCandidates(nil) }

// appendCandidates appends the candidates to out, so a caller can reuse one
// buffer for every group.
func (v *groupView) appendCandidates(out []string) []string {
	if v.reason != "" {
		return out
	}
	for _, n := range v.w.nodeNames {
		if v.eligible(n) {
			out = append(out, n)
		}
	}
	return out
}

// candidateLists hands out one shared slice per distinct candidate list:
// 5,000 groups over the same 100 nodes then hold one list between them
// instead of 5,000 copies of it (memory G·N -> N per distinct list). The
// slices it returns are never written to.
type candidateLists struct {
	seed    maphash.Seed
	byHash  map[uint64][][]string
	count   int
	scratch []string
}

// maxCandidateLists bounds what the interner keeps across recomputes; past
// it, it starts afresh (lists already handed out stay valid).
const maxCandidateLists = 4096

// of returns v's candidates as a shared list (nil when there are none).
func (c *candidateLists) of(v *groupView) []string {
	c.scratch = v.appendCandidates(c.scratch[:0])
	return c.intern(c.scratch)
}

// intern returns the shared list equal to list (nil when it is empty),
// copying list only when no such list is kept.
func (c *candidateLists) intern(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	if c.byHash == nil || c.count > maxCandidateLists {
		if c.byHash == nil {
			c.seed = maphash.MakeSeed()
		}
		c.byHash, c.count = map[uint64][][]string{}, 0
	}
	var h maphash.Hash
	h.SetSeed(c.seed)
	for _, n := range list {
		h.WriteString(n)
		h.WriteByte(0)
	}
	k := h.Sum64()
	for _, l := range c.byHash[k] {
		if slices.Equal(l, list) {
			return l
		}
	}
	l := slices.Clone(list)
	c.byHash[k] = append(c.byHash[k], l)
	c.count++
	return l
}

// eligible is decide(node).Candidate without building the Decision: the
// same checks in the same order, so Candidates stays Decide over every node
// (the tests check that) at a fraction of the cost.
func (v *groupView) eligible(node string) bool {
	if v.reason != "" {
		return false
	}
	if nf, ok := v.w.nodeFacts[node]; !ok || nf.reason != "" {
		return false
	}
	for i := range v.ips {
		selected := false
		for _, a := range v.ads[i] {
			if v.w.ads[a].selected[node] {
				selected = true
				break
			}
		}
		if !selected {
			return false
		}
	}
	if len(v.local) > 0 && !v.hasLocalEndpoint(node) {
		return false
	}
	if v.w.wire != nil && v.w.wire.Node == node {
		return v.decide(node).Candidate // one node at most: no need to be cheap
	}
	return true
}

func (v *groupView) decide(node string) Decision {
	no := func(r Reason, format string, args ...any) Decision {
		return Decision{Reason: r, Message: fmt.Sprintf(format, args...)}
	}
	if v.reason != "" {
		return Decision{Reason: v.reason, Message: v.msg}
	}
	nf, ok := v.w.nodeFacts[node]
	if !ok {
		return no(ReasonNodeUnknown, "node %s: no Node object of that name; check the speaker's --node-name (it must be the Node's name)", node)
	}
	if nf.reason != "" {
		return Decision{Reason: nf.reason, Message: nf.msg}
	}
	d := Decision{Interfaces: map[netip.Addr][]string{}}
	for i, ip := range v.ips {
		ifaces, selected := []string{}, false
		for _, a := range v.ads[i] {
			ad := &v.w.ads[a]
			if !ad.selected[node] {
				continue
			}
			selected = true
			if ifaces != nil && len(ad.interfaces) == 0 {
				ifaces = nil // one advertisement without interfaces: the default choice
			} else if ifaces != nil {
				ifaces = append(ifaces, ad.interfaces...)
			}
		}
		if !selected {
			var names []string
			for _, a := range v.ads[i] {
				names = append(names, v.w.ads[a].name)
			}
			return no(ReasonNodeNotSelected, "group %s: node %s matches the nodeSelectors of no L2Advertisement covering %s (%s); label the node or widen a nodeSelector",
				v.g.Name, node, ip, strings.Join(names, ", "))
		}
		if ifaces != nil {
			slices.Sort(ifaces)
			ifaces = slices.Compact(ifaces)
		}
		d.IPs = append(d.IPs, ip)
		d.Interfaces[ip] = ifaces
	}
	if len(v.local) > 0 && !v.hasLocalEndpoint(node) {
		return no(ReasonNoLocalEndpoint, "group %s: %s has externalTrafficPolicy Local and node %s has no ready endpoint of it",
			v.g.Name, strings.Join(v.local, ", "), node)
	}
	if wire := v.w.wire; wire != nil && wire.Node == node {
		d.Links = map[netip.Addr][]string{}
		var dark []string
		for _, ip := range d.IPs {
			names := l2.ChooseInterfaces(wire.Links, ip, d.Interfaces[ip])
			if len(names) == 0 {
				dark = append(dark, fmt.Sprintf("%s (interfaces considered: %s)", ip, considered(wire.Links, ip, d.Interfaces[ip])))
			}
			d.Links[ip] = names
		}
		// Every IP, not any: the group moves as one, and a holder that can
		// announce only some of its IPs leaves the others dark while
		// another node might announce them all (docs/speaker.md).
		if len(dark) > 0 {
			return no(ReasonNoInterface, "group %s: node %s cannot announce %s: no usable interface; bring the link up, give the node an address in the IP's subnet, or name the interfaces in the L2Advertisement's spec.interfaces",
				v.g.Name, node, strings.Join(dark, "; "))
		}
	}
	d.Candidate = true
	return d
}

// considered describes the links that could have announced ip and why
// each does not: "eth0 (down), eth1 (no address in the subnet)", or
// "none" when the node has no such link.
func considered(links []l2.Link, ip netip.Addr, explicit []string) string {
	var out []string
	for _, l := range links {
		if l.Loopback {
			continue
		}
		if len(explicit) > 0 {
			if !l2.Listed(l.Name, explicit) {
				continue
			}
		} else if l2.IsVirtual(l.Name) {
			continue
		}
		why := "no address in the subnet"
		if !l.Usable() {
			why = "down, or not usable"
		}
		out = append(out, l.Name+" ("+why+")")
	}
	if len(explicit) > 0 {
		return fmt.Sprintf("spec.interfaces %s: %s", strings.Join(explicit, ", "), orNone(out))
	}
	return orNone(out)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// nodeFactsOf checks what excludes a node from every group.
func nodeFactsOf(n *corev1.Node, ignoreExcludeLabel bool) nodeView {
	if _, ok := n.Labels[v1alpha1.LabelExcludeFromLB]; ok && !ignoreExcludeLabel {
		return nodeView{ReasonNodeExcluded, fmt.Sprintf("node %s carries the label %s; remove it to let the node announce",
			n.Name, v1alpha1.LabelExcludeFromLB)}
	}
	if n.Spec.Unschedulable {
		return nodeView{ReasonNodeCordoned, fmt.Sprintf("node %s is cordoned (kubectl cordon or drain); `kubectl uncordon %s` lets it announce again",
			n.Name, n.Name)}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeNetworkUnavailable && c.Status == corev1.ConditionTrue {
			return nodeView{ReasonNetworkUnavailable, fmt.Sprintf("node %s has condition NetworkUnavailable=True (%s); the node's network plugin must clear it",
				n.Name, c.Reason)}
		}
	}
	return nodeView{}
}

// hasLocalEndpoint reports whether node has a usable endpoint of any Local
// Service of the group. Usable: ready; or serving (for instance
// terminating but still serving) when no endpoint of that Service is ready
// anywhere, as kube-proxy falls back to serving endpoints then. ANY rather
// than EVERY Local Service: Local Services may share an IP only with the
// same Pod selector, so their endpoints are the same Pods, and EVERY would
// release and re-claim the group whenever one Service's slices are updated a
// moment before another's.
func (v *groupView) hasLocalEndpoint(node string) bool {
	for _, key := range v.local {
		e := v.w.endpoints[key]
		if e == nil {
			continue
		}
		if e.ready[node] || (len(e.ready) == 0 && e.serving[node]) {
			return true
		}
	}
	return false
}
