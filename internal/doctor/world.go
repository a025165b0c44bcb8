package doctor

import (
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/leaselb/leaselb/election"
	"github.com/leaselb/leaselb/internal/speaker"
)

// SpeakerFlags are the speaker flags that change every node's candidacy,
// as the speaker DaemonSet passes them. Reading them from the DaemonSet
// lets doctor and status ask World.Decide the question the speakers
// themselves answer.
type SpeakerFlags struct {
	// RequireClass is --require-class.
	RequireClass bool
	// IgnoreExcludeLabel is --ignore-exclude-label (Helm value
	// speaker.ignoreExcludeLabel).
	IgnoreExcludeLabel bool
}

// SpeakerFlagsOf reads SpeakerFlags from the args and command of ds's
// containers; a nil ds (not installed as a DaemonSet, or unreadable) gives
// the defaults.
func SpeakerFlagsOf(ds *appsv1.DaemonSet) SpeakerFlags {
	var f SpeakerFlags
	if ds == nil {
		return f
	}
	for _, c := range ds.Spec.Template.Spec.Containers {
		for _, a := range append(append([]string(nil), c.Command...), c.Args...) {
			if v, ok := boolFlag(a, "require-class"); ok {
				f.RequireClass = v
			}
			if v, ok := boolFlag(a, "ignore-exclude-label"); ok {
				f.IgnoreExcludeLabel = v
			}
		}
	}
	return f
}

// boolFlag parses arg as Go's flag package would the boolean flag name:
// -name, --name, -name=value, --name=value.
func boolFlag(arg, name string) (value, ok bool) {
	a := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
	if a == arg {
		return false, false
	}
	k, v, hasValue := strings.Cut(a, "=")
	if k != name {
		return false, false
	}
	if !hasValue {
		return true, true
	}
	b, err := strconv.ParseBool(v)
	return b, err == nil
}

// SpeakerNodes are the nodes a speaker may run on (Linux), the ones whose
// decisions doctor and status report. Excluded nodes stay: the speaker's
// own decision says why they may not announce.
func SpeakerNodes(s *Snapshot) []*corev1.Node {
	var out []*corev1.Node
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if os, ok := n.Labels[corev1.LabelOSStable]; ok && os != "linux" {
			continue
		}
		out = append(out, n)
	}
	return out
}

// World is the speakers' view of the cluster built from s, so that doctor
// and status ask speaker.World.Decide instead of re-deriving candidacy.
// Nobody's interfaces are known from outside the nodes, so it never gives
// speaker.ReasonNoInterface.
func World(s *Snapshot) *speaker.World {
	return speaker.NewWorld(speaker.Inputs{Nodes: SpeakerNodes(s), Pools: pointers(s.Pools),
		Advertisements: pointers(s.Advertisements), EndpointSlices: pointers(s.EndpointSlices),
		IgnoreExcludeLabel: SpeakerFlagsOf(s.Speaker).IgnoreExcludeLabel})
}

// HolderLease returns the node lease of holder and whether it is fresh:
// renewed within its leaseDurationSeconds plus a slack, judged on the API
// server's clock (Snapshot.Now). A nil lease means the holder has none.
func HolderLease(s *Snapshot, holder string) (nl *coordinationv1.Lease, age time.Duration, fresh bool) {
	nl = findLease(s, election.NodeLeaseName(holder))
	if nl == nil {
		return nil, 0, false
	}
	age, ok := leaseAge(s, nl)
	return nl, age, ok && age <= leaseDuration(nl, election.DefaultNodeLeaseDuration)+holderSlack
}
