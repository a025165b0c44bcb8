// Package l2 makes this node answer for the virtual IPs it holds on the local
// link: it answers ARP requests (RFC 826) and IPv6 Neighbor Solicitations
// (RFC 4861, Section 7.2.4) for held VIPs from user space, sends gratuitous ARP
// (RFC 5227, Section 3) and unsolicited Neighbor Advertisements with the
// Override flag when it takes a VIP over, and reports frames on the wire that
// claim one of its VIPs from another MAC.
//
// The package owns the raw sockets, the BPF filters, the solicited-node
// multicast memberships and the choice of interfaces. The decision what to
// answer for a frame is a pure function (frame in, reply frames, claim and
// counters out) so it is tested and fuzzed without root; the socket layer in
// the _linux.go files only moves bytes.
//
// One noun, interface, in four shapes: Link is what the kernel reports
// of an interface (links.go), iface is the Announcer's state of one it
// answers on (announcer.go), ifaceSockets are its raw sockets, and
// ifaceView is the immutable snapshot the receive path reads without a lock
// (core.go).
//
// The package never decides which VIPs this node holds: the speaker does, and
// hands the result to Announcer.Set. It never adds a VIP to an interface or
// touches routes and sysctls, and it sends nothing for a VIP it has been told
// to release: the successor announces.
package l2
