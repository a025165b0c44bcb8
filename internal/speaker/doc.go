// Package speaker is the speaker daemon's loop: it turns the cluster's
// Services, EndpointSlices, Nodes, IPAddressPools and L2Advertisements into
// announcement groups, decides for each group whether this node is a
// candidate (and why not), hands the groups to the election, and hands the
// groups this node holds to the layer-2 announcer. It feeds the claims the
// announcer sees on the wire back into the election (fencing) and raises
// IPConflict Events for foreign hosts.
//
// The decisions are pure functions: Groups computes the groups from
// Services, and World.Decide decides candidacy for one (node, group); both
// are table-tested without a cluster, and leaselb doctor builds the same
// World to say why nobody holds a group. Whether a Service is ours is
// v1alpha1.Serves, shared with the controller and doctor. The speaker reads
// no Lease itself: the election answers who holds a group, whose MAC a
// claim came from (NodeOfMAC) and whether this node's cache is current
// (CacheCurrentSince). One goroutine owns the loop's state;
// informer handlers and the election and announcer notifications only wake
// it.
//
// It must never: announce a group the election does not say this node holds;
// keep announcing a group it has stopped being a candidate for, or one a
// successor has been seen announcing on the wire; write anything to the API
// server but Events (the election writes the Leases); poll the API server.
package speaker
