// Package doctor checks a cluster for what breaks leaselb's layer-2 mode
// and says how to fix it: kube-proxy in IPVS mode without strictARP, missing
// CRDs, nodes without a running speaker, pools outside every node's subnet,
// pools no L2Advertisement covers, Services stuck without an IP, VIPs
// without a live holder, and IP conflicts the speakers reported.
//
// It is split in two. Gather reads a Snapshot of the objects through
// client-go, once; the checks (Run) are pure functions of that Snapshot, so
// every verdict is table-tested without a cluster. Where a check needs a
// rule the daemons apply, it calls theirs: which Services are ours is
// v1alpha1.Serves, and why no node holds a VIP is the speaker's own
// World.Decide for each node. Each Finding names the
// object and, when something is wrong, the command or edit that fixes it.
//
// The package must never write to the cluster: doctor is safe to run at any
// time with a read-only kubeconfig.
package doctor
