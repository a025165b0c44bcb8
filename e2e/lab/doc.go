// Package lab builds the leaselb test lab on one Linux machine: a bridge (the
// "switch") in its own network namespace, network namespaces for the control
// plane, three nodes and a client, each with a veth named eth0 on the bridge
// and IPv4 and IPv6 documentation addresses; a real etcd and kube-apiserver in
// the control namespace with RBAC and service-account tokens; Node objects for
// the node namespaces; a kube-proxy stand-in (IPVS mode with strictARP: VIPs on
// lo, arp_ignore=1, arp_announce=2, an HTTP server answering From=<node>) in
// each node namespace; and the real leaselb controller and speakers, each with
// a token for its own ServiceAccount.
//
// The lab owns every namespace whose name starts with its prefix and every
// process running in them. It never adds anything to the machine's own
// network namespace, never touches namespaces without its prefix, and leaves
// nothing behind: Close tears everything down, and Start first removes what a
// crashed earlier run with the same prefix left.
//
// It needs root and the binaries in bin/ (make cluster-tools build labagent).
package lab
