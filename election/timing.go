package election

import (
	"fmt"
	"time"
)

// Defaults for the zero fields of Timing. This file is the one place the
// election's timing defaults and the rules between them live: the speaker's
// flags default to these constants and the command checks its flags with
// Timing.Validate, the check New makes.
const (
	DefaultNodeLeaseRenew    = 500 * time.Millisecond
	DefaultNodeLeaseDuration = 2 * time.Second
	DefaultIdleRenew         = 10 * time.Second
	DefaultRankStep          = 200 * time.Millisecond
)

// Timing holds the election's durations. A zero field takes its default.
type Timing struct {
	// NodeLeaseRenew is how often the node lease is renewed while this node
	// holds at least one group (or any lease names it).
	NodeLeaseRenew time.Duration
	// NodeLeaseDuration is how long a node lease may stay unchanged, as seen
	// on the observer's clock, before the groups of its node may be taken.
	NodeLeaseDuration time.Duration
	// IdleRenew is how often the node lease is renewed while this node holds
	// nothing.
	IdleRenew time.Duration
	// RankStep is how long each rank waits after the one before it before
	// claiming a free group.
	RankStep time.Duration
	// WireSuspect is how long a holder's node lease may stay unchanged, on
	// the observer's clock, before the holder has missed a renewal and its
	// top-ranked successor starts probing it on the wire (the wire check,
	// Config.WireCheck). Zero means NodeLeaseRenew plus a fifth of it
	// (600 ms with the defaults): one renewal plus a margin for the write's
	// round trip and the watch's delivery. A late renewal only costs a few
	// probes, which a live holder answers.
	WireSuspect time.Duration
	// WireLapse is the earliest moment, after a holder's node lease was
	// last seen to change, at which a holder that is also silent on the
	// wire may be taken. Zero means three quarters of NodeLeaseDuration
	// (1.5 s with the defaults). A holder whose speaker is paused keeps its
	// groups as long as the pause is shorter than WireLapse minus
	// NodeLeaseRenew (1 s with the defaults): see docs/election.md.
	WireLapse time.Duration
	// HostLapse is the earliest moment, after a holder's node lease was
	// last seen to change, at which a holder may be taken when its node's
	// own address is silent on the wire too: the holder's kernel answers
	// for that address whether or not its speaker runs, so a paused speaker
	// is not mistaken for a dead node. Zero means half of
	// NodeLeaseDuration (1 s with the defaults), or WireSuspect if that is
	// later.
	HostLapse time.Duration
}

// WithDefaults returns t with every zero field set to its default.
func (t Timing) WithDefaults() Timing {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&t.NodeLeaseRenew, DefaultNodeLeaseRenew)
	def(&t.NodeLeaseDuration, DefaultNodeLeaseDuration)
	def(&t.IdleRenew, DefaultIdleRenew)
	def(&t.RankStep, DefaultRankStep)
	def(&t.WireSuspect, t.NodeLeaseRenew+t.NodeLeaseRenew/5)
	def(&t.WireLapse, t.NodeLeaseDuration*3/4)
	def(&t.HostLapse, max(t.NodeLeaseDuration/2, t.WireSuspect))
	return t
}

// Validate reports, wrapping ErrConfig, why t (with defaults for its zero
// fields) cannot work. The messages name the speaker's flags, which set
// these fields one to one.
func (t Timing) Validate() error {
	t = t.WithDefaults()
	switch {
	case t.NodeLeaseRenew < 0 || t.NodeLeaseDuration < 0 || t.IdleRenew < 0 || t.RankStep < 0:
		return fmt.Errorf("%w: --node-lease-renew (%v), --node-lease-duration (%v), --idle-renew (%v) and --rank-step (%v) must not be negative",
			ErrConfig, t.NodeLeaseRenew, t.NodeLeaseDuration, t.IdleRenew, t.RankStep)
	case 2*t.NodeLeaseRenew > t.NodeLeaseDuration:
		// A claimant trusts its own node lease for duration/2 after a
		// successful renewal (core.ownFresh), so a holder must renew at
		// least that often or its groups look expired to the others.
		return fmt.Errorf("%w: --node-lease-renew (%v) is more than half of --node-lease-duration (%v); renew at most every duration/2",
			ErrConfig, t.NodeLeaseRenew, t.NodeLeaseDuration)
	case t.WireSuspect < 0 || t.WireLapse < 0 || t.HostLapse < 0:
		return fmt.Errorf("%w: the wire check's suspect time (%v), lapse (%v) and host lapse (%v) must not be negative",
			ErrConfig, t.WireSuspect, t.WireLapse, t.HostLapse)
	case t.WireSuspect <= t.NodeLeaseRenew || t.WireSuspect > t.HostLapse || t.HostLapse > t.WireLapse || t.WireLapse > t.NodeLeaseDuration:
		// A holder is suspect only once it missed a renewal, the wire may
		// only shorten the wait, never lengthen it, and a silent node is
		// stronger evidence than a silent speaker.
		return fmt.Errorf("%w: the wire check needs --node-lease-renew (%v) < suspect time (%v) <= host lapse (%v) <= lapse (%v) <= --node-lease-duration (%v)",
			ErrConfig, t.NodeLeaseRenew, t.WireSuspect, t.HostLapse, t.WireLapse, t.NodeLeaseDuration)
	case t.IdleRenew < t.NodeLeaseRenew:
		return fmt.Errorf("%w: --idle-renew (%v) is shorter than --node-lease-renew (%v); an idle node renews at most as often as a holder",
			ErrConfig, t.IdleRenew, t.NodeLeaseRenew)
	}
	return nil
}
