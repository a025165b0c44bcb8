// Package election decides which node holds each announcement group
// (a VIP lease per group), over coordination.k8s.io/v1 Leases in the
// leaselb namespace, as described in docs/election.md.
//
// It owns the node lease node-<node> of its node and takes part in the
// election of every group the speaker hands it: it claims, adopts,
// releases and garbage-collects VIP leases, and tells the speaker which
// groups this node holds. Reads come from a shared Lease informer (the one
// exception: after a conflict on its own node lease it re-reads that lease
// from the API server, as the cache may be what is stale); every write is
// conditional on the resourceVersion last seen, and a conflict
// means re-read, never retry. Expiry is judged on the injected clock from
// when a node lease was last seen to change, never from a timestamp another
// node wrote.
//
// Files: core.go is the pure state machine (plan returns the writes, done
// takes their results, renewPeriod is the one renewal-period rule);
// elector.go runs it against the informer and the API server and answers
// the speaker (Held, Holder, NodeOfMAC, CacheCurrentSince); rank.go ranks
// candidates by rendezvous hashing; timing.go holds every timing default
// and the rules between them (Timing.Validate, which the command calls);
// reason.go names the reasons in logs, metrics and Events. The wire check
// (docs/election.md) enters only as facts the speaker reports (WireSilent,
// WireAlive); the rule that may shorten the wait is core.wireGone.
//
// It must never: open a socket or touch the network other than through the
// Kubernetes client; hold a group before a conditional write of its lease
// succeeded (including after a restart); overwrite a lease another node
// wrote since we read it; read the wall clock directly (tests run it on a
// fake clock).
package election
