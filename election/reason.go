package election

import "strconv"

// A Reason says why this node took or stopped holding a group, or why it
// wrote a lease. It is the reason label of leaselb_election_handovers_total,
// the reason field of the Elector's logs, and, through the speaker, part of
// its Released Events. A group the speaker marks not a candidate is dropped
// and released with the speaker's reason (GroupSpec.Reason) instead.
type Reason string

// Why a group was won.
const (
	// ReasonNew: the lease did not exist.
	ReasonNew Reason = "new"
	// ReasonReleased: its holder released it.
	ReasonReleased Reason = "released"
	// ReasonExpired: its holder's node lease did not change for a
	// node-lease duration.
	ReasonExpired Reason = "expired"
	// ReasonWireSilent: its holder's node lease missed renewals for
	// Timing.WireLapse and the holder did not answer probes on the wire
	// (the wire check).
	ReasonWireSilent Reason = "wireSilent"
	// ReasonAdopted: the lease already named this node (a restart).
	ReasonAdopted Reason = "adopted"
)

// Why a group was dropped or its lease written.
const (
	// ReasonNotCandidate: the speaker says this node may not hold it, and
	// gave no reason of its own.
	ReasonNotCandidate Reason = "notCandidate"
	// ReasonFenced: the speaker saw a successor announce it (Lost).
	ReasonFenced Reason = "fenced"
	// ReasonSuperseded: its lease names another node now.
	ReasonSuperseded Reason = "superseded"
	// ReasonRemoved: the group no longer exists; its lease is deleted.
	ReasonRemoved Reason = "removed"
	// ReasonShutdown: the speaker is stopping and releases everything.
	ReasonShutdown Reason = "shutdown"
	// ReasonAnnotations: a held lease's annotations are rewritten.
	ReasonAnnotations Reason = "annotations"
	// ReasonOrphaned: a released lease of a group that no longer exists is
	// garbage-collected.
	ReasonOrphaned Reason = "orphaned"
	// ReasonNodeGone: the node lease of a node gone for an hour is deleted.
	ReasonNodeGone Reason = "nodeGone"
)

func (r Reason) String() string { return string(r) }

var noteKindNames = [...]string{noteWon: "won", noteLost: "lost", noteDropped: "dropped", noteResumed: "resumed", noteFailing: "failing"}

func (k noteKind) String() string {
	if int(k) < len(noteKindNames) {
		return noteKindNames[k]
	}
	return "noteKind(" + strconv.Itoa(int(k)) + ")"
}

var outcomeNames = [...]string{outcomeOK: "ok", outcomeConflict: "conflict", outcomeFailed: "failed"}

func (o outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}
