package l2

import (
	"net"
	"net/netip"
	"path"
	"slices"
	"strings"
)

// A Link is what interface choice needs to know about one network
// interface. The speaker reads them (Announcer.Links) to judge candidacy
// with the same rule the Announcer answers by (ChooseInterfaces).
type Link struct {
	Name     string
	Index    int
	MAC      net.HardwareAddr
	Up       bool // administratively up and not without carrier
	Loopback bool
	NoARP    bool
	Enslaved bool           // member of a bridge or bond: the master answers, not the port
	Prefixes []netip.Prefix // global and unique-local addresses with their prefix length
}

// virtualPrefixes are name prefixes of interfaces that Kubernetes networking
// and container runtimes create. They never face the node's LAN, so the
// default choice skips them; an explicit interface list may still name one.
// No entry starts with another (TestVirtualPrefixesAreMinimal): "kube-"
// covers kube-ipvs0, kube-bridge and kube-dummy-if, "nodelocal" covers
// nodelocaldns, "tun" covers tunl0.
var virtualPrefixes = []string{
	"kube-", "nodelocal", "cni", "veth", "docker", "br-", "cali", "flannel", "cilium", "lxc",
	"vxlan", "genev", "weave", "datapath", "tun", "tap", "virbr",
	"antrea", "ovs-", "podman", "wg", "dummy",
}

// isVirtual reports whether name looks like an interface that container or
// cluster networking made.
func isVirtual(name string) bool {
	for _, p := range virtualPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Usable reports whether l can carry announcements at all.
func (l Link) Usable() bool {
	return l.Up && !l.Loopback && !l.NoARP && !l.Enslaved && len(l.MAC) == 6
}

// inSubnet reports whether one of l's addresses is on ip's subnet.
func (l Link) inSubnet(ip netip.Addr) bool {
	for _, p := range l.Prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ChooseInterfaces returns the names of the interfaces that answer for ip,
// sorted; links are taken as they are (the speaker passes them damped, see
// its docs). By default: usable, not virtual by name, and carrying an address on
// ip's subnet. An explicit list (names or shell patterns such as "eth*", from
// L2Advertisement.spec.interfaces) narrows that to the listed interfaces; if
// none of the listed ones carries ip's subnet, all listed usable interfaces
// answer, because the administrator named them on purpose (a VIP subnet with
// no node address on it is a supported setup).
func ChooseInterfaces(links []Link, ip netip.Addr, explicit []string) []string {
	var onSubnet, listed []string
	for _, l := range links {
		if !l.Usable() {
			continue
		}
		if len(explicit) == 0 {
			if !isVirtual(l.Name) && l.inSubnet(ip) {
				onSubnet = append(onSubnet, l.Name)
			}
			continue
		}
		if !matchesAny(l.Name, explicit) {
			continue
		}
		listed = append(listed, l.Name)
		if l.inSubnet(ip) {
			onSubnet = append(onSubnet, l.Name)
		}
	}
	out := onSubnet
	if len(explicit) > 0 && len(onSubnet) == 0 {
		out = listed
	}
	slices.Sort(out)
	return out
}

func matchesAny(name string, patterns []string) bool {
	for _, p := range patterns {
		if p == name {
			return true
		}
		if ok, err := path.Match(p, name); err == nil && ok {
			return true
		}
	}
	return false
}

// table is the desired state of the wire: for each interface, the VIPs it
// answers for.
type table map[string][]netip.Addr

// buildTable computes which interface answers for which VIP.
func buildTable(links []Link, desired []Announcement) table {
	t := table{}
	for _, a := range desired {
		for _, ip := range a.IPs {
			ip = ip.Unmap().WithZone("")
			if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsLoopback() {
				continue
			}
			for _, name := range ChooseInterfaces(links, ip, a.Interfaces) {
				if !slices.Contains(t[name], ip) && !slices.Contains(a.Except, name) {
					t[name] = append(t[name], ip)
				}
			}
		}
	}
	for _, ips := range t {
		slices.SortFunc(ips, netip.Addr.Compare)
	}
	return t
}

// IsVirtual reports whether name looks like an interface that container or
// cluster networking made, which the default choice skips.
func IsVirtual(name string) bool { return isVirtual(name) }

// Listed reports whether name matches one of patterns (names or shell
// patterns, as in L2Advertisement.spec.interfaces).
func Listed(name string, patterns []string) bool { return matchesAny(name, patterns) }
