// Package status answers "which node answers for this IP, and why not that
// one?" for a person: one row per LoadBalancer Service with its IPs, pool,
// holder node, the interfaces it announces on (as far as anyone off the
// node can know), since when, and the last handover and why. For a group
// with no holder it gives every node's reason from the speakers' own
// speaker.World.Decide, built from the Snapshot by doctor.World, so status,
// doctor and the speakers cannot disagree.
//
// Rows are a pure function of a doctor.Snapshot; Source keeps one current
// through informers for `leaselb status --watch`. The package only reads:
// it never writes to the API server.
package status
