package status

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/leaselb/leaselb/allocator"
	"github.com/leaselb/leaselb/election"
	"github.com/leaselb/leaselb/internal/doctor"
	"github.com/leaselb/leaselb/internal/speaker"
)

// The states of a group, Group.State.
const (
	// StateAnnounced: the VIP lease names a holder whose node lease is fresh.
	StateAnnounced = "announced"
	// StateStale: the holder's node lease is stale or absent: its speaker
	// is gone and no other node has taken over (yet).
	StateStale = "stale"
	// StateReleased: the lease has no holder (its last holder released it).
	StateReleased = "released"
	// StateUnclaimed: there is no VIP lease: no node has ever claimed it.
	StateUnclaimed = "unclaimed"
)

// ReasonUnknown is Handover.Reason when the lease changed holder but no
// Released Event says why (Events live an hour by default).
const ReasonUnknown = "unknown"

// Report is the document `leaselb status -o json|yaml` prints: a stable
// structure, documented in docs/status.md.
type Report struct {
	// Namespace is leaselb's namespace (Leases, pools, advertisements).
	Namespace string `json:"namespace"`
	// Time is when the snapshot was taken, on the API server's clock.
	Time time.Time `json:"time"`
	// Groups are the announcement groups, by lease name.
	Groups []Group `json:"groups"`
	// Pending are leaselb's Services without an IP yet.
	Pending []Pending `json:"pending,omitempty"`
	// Unreadable are the sources that could not be read (RBAC, absent
	// CRDs), by name, with the error: the answer may be incomplete.
	Unreadable map[string]string `json:"unreadable,omitempty"`
}

// A Group is one announcement group: the IPs of one Service plus every
// Service sharing one of them, announced from one node.
type Group struct {
	// Lease is the group's VIP lease (vip-<lowest IP>).
	Lease string `json:"lease"`
	// Services are namespace/name.
	Services []string `json:"services"`
	IPs      []string `json:"ips"`
	// Pools are, per IP of IPs, the IPAddressPool it lies in ("" if none).
	Pools []string `json:"pools"`
	// State is announced, stale, released or unclaimed.
	State string `json:"state"`
	// Holder is the node the VIP lease names ("" when none).
	Holder string `json:"holder,omitempty"`
	// Interfaces are what is known off the node of where the holder
	// announces; nil without a holder.
	Interfaces *Interfaces `json:"interfaces,omitempty"`
	// Since is when the holder acquired the lease (its acquireTime).
	Since *time.Time `json:"since,omitempty"`
	// Transitions is the lease's leaseTransitions: how often it changed holder.
	Transitions int32 `json:"transitions"`
	// LastHandover is the newest handover the Lease and the speakers'
	// Events record; nil when there was none (or nothing records it).
	LastHandover *Handover `json:"lastHandover,omitempty"`
	// Nodes are, when the group is not announced, every node's decision
	// from the speakers' World.Decide.
	Nodes []NodeDecision `json:"nodes,omitempty"`
}

// Interfaces are what a person off the node can know of where a holder
// answers: its node lease lists the MACs of all its announcing interfaces
// (not per VIP); its newest Announcing Event for the group names the
// interfaces, while that Event lives.
type Interfaces struct {
	// Names are the interfaces named by the holder's newest Announcing
	// Event on the group's Services; empty when no such Event is left.
	Names []string `json:"names,omitempty"`
	// MACs are the holder's leaselb.io/macs: every interface it announces
	// from, for any VIP.
	MACs []string `json:"macs,omitempty"`
	// Event is that Announcing Event's message.
	Event string `json:"event,omitempty"`
	// Warning is true when that Event is a Warning: some IP of the group
	// is announced on no interface.
	Warning bool `json:"warning,omitempty"`
}

// A Handover is the last change of holder as the Lease and the speakers'
// Released Events record it.
type Handover struct {
	// From is the node that stopped announcing ("" if unknown).
	From string `json:"from,omitempty"`
	// Reason is the speaker's reason (shutdown, takenOver, fenced,
	// nodeCordoned, noLocalEndpoint, ...; docs/speaker.md), or unknown.
	Reason string `json:"reason"`
	// Message is the Released Event's message, or what status knows.
	Message string `json:"message,omitempty"`
	// Time is when it happened (the Event's time), when known.
	Time *time.Time `json:"time,omitempty"`
}

// A NodeDecision is one node's answer to "may it announce this group?".
type NodeDecision struct {
	Node      string `json:"node"`
	Candidate bool   `json:"candidate"`
	// Reason is the speaker's Reason (nodeExcluded, noLocalEndpoint, ...)
	// when not a candidate.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Pending is a Service of leaselb's that has no IP yet.
type Pending struct {
	Service string `json:"service"`
	Reason  string `json:"reason"`
}

// Options narrow a Report.
type Options struct {
	// Service keeps only the groups of this Service: namespace/name, or a
	// bare name for that name in every namespace. Empty keeps all.
	Service string
}

func (o Options) matches(ns, name string) bool {
	if o.Service == "" {
		return true
	}
	if n, nm, ok := strings.Cut(o.Service, "/"); ok {
		return n == ns && nm == name
	}
	return o.Service == name
}

// Build computes the Report of s.
func Build(s *doctor.Snapshot, o Options) Report {
	r := Report{Namespace: s.Namespace, Time: s.Now, Groups: []Group{}}
	if len(s.Errors) > 0 {
		r.Unreadable = s.Errors
	}
	requireClass := doctor.SpeakerFlagsOf(s.Speaker).RequireClass
	services := make([]*corev1.Service, len(s.Services))
	for i := range s.Services {
		services[i] = &s.Services[i]
	}
	groups, ignored := speaker.Groups(services, requireClass)
	for _, ig := range ignored {
		if ig.Reason == speaker.ReasonNoIP && o.matches(ig.Service.Namespace, ig.Service.Name) {
			r.Pending = append(r.Pending, Pending{Service: ig.Service.Namespace + "/" + ig.Service.Name, Reason: string(ig.Reason)})
		}
	}
	var w *speaker.World
	pools := poolRanges(s)
	for _, g := range groups {
		keep := false
		for _, svc := range g.Services {
			keep = keep || o.matches(svc.Namespace, svc.Name)
		}
		if !keep {
			continue
		}
		if w == nil {
			w = doctor.World(s)
		}
		r.Groups = append(r.Groups, group(s, w, g, pools, requireClass))
	}
	return r
}

type poolRange struct {
	name        string
	first, last netip.Addr
}

func poolRanges(s *doctor.Snapshot) []poolRange {
	var out []poolRange
	for _, p := range s.Pools {
		for _, a := range p.Spec.Addresses {
			if first, last, err := allocator.ParseRange(string(a)); err == nil {
				out = append(out, poolRange{p.Name, first, last})
			}
		}
	}
	return out
}

func poolOf(ranges []poolRange, ip netip.Addr) string {
	for _, r := range ranges {
		if r.first.BitLen() == ip.BitLen() && r.first.Compare(ip) <= 0 && ip.Compare(r.last) <= 0 {
			return r.name
		}
	}
	return ""
}

func findLease(s *doctor.Snapshot, name string) *coordinationv1.Lease {
	for i := range s.Leases {
		if s.Leases[i].Name == name {
			return &s.Leases[i]
		}
	}
	return nil
}

func group(s *doctor.Snapshot, w *speaker.World, g speaker.Group, pools []poolRange, requireClass bool) Group {
	out := Group{Lease: g.Name}
	for _, svc := range g.Services {
		out.Services = append(out.Services, svc.Namespace+"/"+svc.Name)
	}
	for _, ip := range g.IPs {
		out.IPs = append(out.IPs, ip.String())
		out.Pools = append(out.Pools, poolOf(pools, ip))
	}
	events := speakerEvents(s, g)
	lease := findLease(s, g.Name)
	switch {
	case lease == nil:
		out.State = StateUnclaimed
	case lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "":
		out.State = StateReleased
	default:
		out.Holder = *lease.Spec.HolderIdentity
		out.State = StateStale
		if _, _, fresh := doctor.HolderLease(s, out.Holder); fresh {
			out.State = StateAnnounced
		}
		out.Interfaces = interfaces(s, out.Holder, events)
	}
	if lease != nil {
		if lease.Spec.LeaseTransitions != nil {
			out.Transitions = *lease.Spec.LeaseTransitions
		}
		if out.Holder != "" && lease.Spec.AcquireTime != nil {
			t := lease.Spec.AcquireTime.Time
			out.Since = &t
		}
		out.LastHandover = handover(lease, out.Holder, out.Transitions, events)
	}
	if out.State != StateAnnounced {
		for _, n := range w.NodeNames() {
			d := w.Decide(n, g, requireClass)
			out.Nodes = append(out.Nodes, NodeDecision{Node: n, Candidate: d.Candidate, Reason: string(d.Reason), Message: d.Message})
		}
	}
	return out
}

// speakerEvents are the Announcing and Released Events on the group's
// Services (the same objects, when the Event carries a UID), newest first.
func speakerEvents(s *doctor.Snapshot, g speaker.Group) []*corev1.Event {
	var out []*corev1.Event
	for i := range s.Events {
		e := &s.Events[i]
		if e.Reason != speaker.EventAnnouncing && e.Reason != speaker.EventReleased || e.InvolvedObject.Kind != "Service" {
			continue
		}
		for _, svc := range g.Services {
			if e.InvolvedObject.Namespace == svc.Namespace && e.InvolvedObject.Name == svc.Name &&
				(e.InvolvedObject.UID == "" || svc.UID == "" || e.InvolvedObject.UID == svc.UID) {
				out = append(out, e)
				break
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *corev1.Event) int { return doctor.EventTime(b).Compare(doctor.EventTime(a)) })
	return out
}

// eventNode is the node whose speaker wrote e (the recorder's Source.Host).
func eventNode(e *corev1.Event) string {
	if e.Source.Host != "" {
		return e.Source.Host
	}
	// "node n1 stopped announcing ...", "... from node n1 on eth0"
	if rest, ok := strings.CutPrefix(e.Message, "node "); ok {
		n, _, _ := strings.Cut(rest, " ")
		return n
	}
	if _, rest, ok := strings.Cut(e.Message, " from node "); ok {
		n, _, _ := strings.Cut(rest, " ")
		return n
	}
	return ""
}

func interfaces(s *doctor.Snapshot, holder string, events []*corev1.Event) *Interfaces {
	out := &Interfaces{}
	if nl := findLease(s, election.NodeLeaseName(holder)); nl != nil {
		for _, m := range strings.Split(nl.Annotations[election.AnnotationMACs], ",") {
			if m = strings.TrimSpace(m); m != "" {
				out.MACs = append(out.MACs, m)
			}
		}
	}
	for _, e := range events {
		if e.Reason != speaker.EventAnnouncing || eventNode(e) != holder {
			continue
		}
		out.Event, out.Warning = e.Message, e.Type == corev1.EventTypeWarning
		// "announcing IPs from node N on eth0, eth1[; IPs on no interface: ...]"
		if _, rest, ok := strings.Cut(e.Message, " from node "+holder+" on "); ok {
			rest, _, _ = strings.Cut(rest, ";")
			for _, n := range strings.Split(rest, ",") {
				if n = strings.TrimSpace(n); n != "" {
					out.Names = append(out.Names, n)
				}
			}
		}
		break
	}
	return out
}

// releasedReason parses the reason out of a Released Event's message,
// "node N stopped announcing IPs: <reason>[: why]".
func releasedReason(msg string) string {
	_, rest, ok := strings.Cut(msg, " stopped announcing ")
	if !ok {
		return ReasonUnknown
	}
	// IPs are joined with ", "; IPv6 addresses hold ':' but never ": ".
	if _, rest, ok = strings.Cut(rest, ": "); !ok {
		return ReasonUnknown
	}
	reason, _, _ := strings.Cut(rest, ":")
	if reason == "" || strings.ContainsAny(reason, " ,") {
		return ReasonUnknown
	}
	return reason
}

// handover is the newest handover of the group: the newest Released Event
// (its node and reason); without one, what the lease says.
func handover(lease *coordinationv1.Lease, holder string, transitions int32, events []*corev1.Event) *Handover {
	by := lease.Annotations[election.AnnotationReleasedBy]
	for _, e := range events {
		if e.Reason != speaker.EventReleased {
			continue
		}
		from := eventNode(e)
		if holder == "" && by != "" && from != by {
			continue // the lease says who released it last; an older Event of another node is not that
		}
		t := doctor.EventTime(e)
		return &Handover{From: from, Reason: releasedReason(e.Message), Message: e.Message, Time: &t}
	}
	switch {
	case holder == "" && by != "":
		return &Handover{From: by, Reason: ReasonUnknown, Message: "released by " + by + "; no Released Event is left to say why (Events live an hour by default)"}
	case transitions > 0:
		return &Handover{Reason: ReasonUnknown, Message: "the lease changed holder; no Released Event is left to say why (Events live an hour by default)"}
	}
	return nil
}
