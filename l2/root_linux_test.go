//go:build linux

package l2

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

const (
	vip4 = "192.0.2.10"
	vip6 = "2001:db8::10"
)

// The client's kernel resolves a held VIP to the announcer's MAC, and takes
// the successor's MAC from its gratuitous ARP / unsolicited NA alone.
func TestRootResolveAndTakeover(t *testing.T) {
	l := newLAN(t)
	a := l.addHost("a", "192.0.2.1/24", "2001:db8::1/64")
	b := l.addHost("b", "192.0.2.2/24", "2001:db8::2/64")
	c := l.addHost("c", "192.0.2.100/24", "2001:db8::100/64")
	// Linux ignores ARP updates to an entry changed less than locktime ago
	// (default 1s). The takeover below may come sooner than that after the
	// client resolved the VIP; a real client's entry is older.
	run(t, "ip", "netns", "exec", c, "sysctl", "-qw", "net.ipv4.neigh.eth0.locktime=0")
	macA, macB := macOf(t, a, "eth0"), macOf(t, b, "eth0")

	ha := startHelper(t, a)
	hb := startHelper(t, b)
	ha.do("set "+vip4+","+vip6, "set-done")
	if got := ha.do("ifaces "+vip4, "ifaces"); got != "ifaces eth0" {
		t.Fatalf("announcer A interfaces for %s: %q, want eth0", vip4, got)
	}
	if got := ha.do("groups", "groups"); got != "groups 1" {
		t.Fatalf("announcer A memberships of ff02::1:ff00:10: %q, want 1", got)
	}
	if got := ha.do("macs", "macs"); got != "macs "+macA {
		t.Fatalf("announcer A MACs: %q, want %s", got, macA)
	}
	if got := ha.do("addrs", "addrs"); got != "addrs 192.0.2.1,2001:db8::1" {
		t.Fatalf("announcer A addresses: %q, want its own (not its subnets'), 192.0.2.1,2001:db8::1", got)
	}

	// The client resolves both VIPs through its kernel (ping's own echo gets
	// no answer: nobody owns the VIP; only the neighbour entry matters).
	_ = exec.Command("ip", "netns", "exec", c, "ping", "-c1", "-W1", vip4).Run()
	_ = exec.Command("ip", "netns", "exec", c, "ping", "-6", "-c1", "-W1", vip6).Run()
	waitNeigh(t, c, vip4, macA)
	waitNeigh(t, c, vip6, macA)
	out, err := exec.Command("ip", "netns", "exec", c, "arping", "-c1", "-w2", "-I", "eth0", vip4).CombinedOutput()
	if err != nil || !strings.Contains(strings.ToLower(string(out)), macA) {
		t.Fatalf("arping %s from the client: %v\n%s\nwant a reply from %s", vip4, err, out, macA)
	}
	out, err = exec.Command("ip", "netns", "exec", c, "ndisc6", "-1", "-r1", "-w1000", vip6, "eth0").CombinedOutput()
	if err != nil || !strings.Contains(strings.ToLower(string(out)), macA) {
		t.Fatalf("ndisc6 %s from the client: %v\n%s\nwant %s", vip6, err, out, macA)
	}

	// Takeover: B announces while A still holds (a partitioned old holder):
	// A must report B's frames as claims.
	hb.do("set "+vip4+","+vip6, "set-done")
	for _, ip := range []string{vip4, vip6} {
		want := "claim " + ip + " " + macB + " eth0"
		for {
			if l := ha.expect("claim " + ip); l == want {
				break
			} else {
				t.Logf("other claim line: %q", l)
			}
		}
	}
	// The client moved on the announcements alone: it sent nothing since.
	for _, ip := range []string{vip4, vip6} {
		state := waitNeigh(t, c, ip, macB)
		if state != "STALE" && state != "REACHABLE" {
			t.Errorf("client entry for %s is %s after the takeover, want STALE or REACHABLE (updated, not re-resolved)", ip, state)
		}
	}
	ha.do("set", "set-done")
	if got := ha.do("groups", "groups"); got != "groups 0" {
		t.Errorf("announcer A memberships of ff02::1:ff00:10 after release: %q, want 0", got)
	}

	// Closing leaves no goroutine, socket or group membership behind.
	for name, h := range map[string]*helper{"A": ha, "B": hb} {
		got := h.do("close", "closed")
		if !strings.Contains(got, "err=<nil>") || !strings.Contains(got, "packet_sockets=0") || !strings.Contains(got, "vip_groups=0") {
			t.Errorf("announcer %s after Close: %s", name, got)
		}
		var g, base int
		if _, err := fmtSscanf(got, &g, &base); err != nil || g > base+1 {
			t.Errorf("announcer %s leaked goroutines: %s", name, got)
		}
	}
}

// A VIP whose subnet appears on an interface later is picked up without a
// restart (netlink subscription), and dropped when the address goes away.
func TestRootHotPlug(t *testing.T) {
	l := newLAN(t)
	a := l.addHost("a", "192.0.2.1/24")
	c := l.addHost("c", "198.51.100.100/24")
	macA := macOf(t, a, "eth0")
	ha := startHelper(t, a)
	ha.do("set 198.51.100.10", "set-done")
	if got := ha.do("ifaces 198.51.100.10", "ifaces"); got != "ifaces " {
		t.Fatalf("interfaces before the subnet exists: %q, want none", got)
	}
	run(t, "ip", "-n", a, "addr", "add", "198.51.100.1/24", "dev", "eth0")
	waitFor(t, func() bool { return ha.do("ifaces 198.51.100.10", "ifaces") == "ifaces eth0" }, "announcer to pick up eth0 for 198.51.100.10")
	_ = exec.Command("ip", "netns", "exec", c, "ping", "-c1", "-W1", "198.51.100.10").Run()
	waitNeigh(t, c, "198.51.100.10", macA)

	run(t, "ip", "-n", a, "addr", "del", "198.51.100.1/24", "dev", "eth0")
	waitFor(t, func() bool { return ha.do("ifaces 198.51.100.10", "ifaces") == "ifaces " }, "announcer to drop eth0 for 198.51.100.10")
	ha.do("close", "closed")
}

// A node holding hundreds of VIPs on one interface answers for every one of
// them under the 20 KiB net.core.optmem_max that kernels before 6.9 default
// to: the kernel refuses filters naming ~300 IPv4 or (compared in full) ~20
// IPv6 addresses, and socket memberships beyond ~360 groups, and the
// announcer must neither give up the interface nor leave groups unjoined.
func TestRootManyVIPsUnderSmallOptmem(t *testing.T) {
	for _, optmem := range []string{"20480", "131072"} {
		t.Run("optmem_max="+optmem, func(t *testing.T) {
			l := newLAN(t)
			a := l.addHost("a", "192.0.2.1/24", "198.51.100.1/24", "2001:db8::1/64")
			c := l.addHost("c", "198.51.100.250/24", "2001:db8::250/64")
			run(t, "ip", "netns", "exec", a, "sysctl", "-qw", "net.core.optmem_max="+optmem)
			macA := macOf(t, a, "eth0")
			var vips []string
			for i := range 200 {
				vips = append(vips, fmt.Sprintf("192.0.2.%d", 10+i), fmt.Sprintf("198.51.100.%d", 10+i))
			}
			for i := range 400 {
				// Distinct low 24 bits: one solicited-node group each.
				vips = append(vips, fmt.Sprintf("2001:db8::%x:%x", 1+i/256, i%256))
			}
			ha := startHelper(t, a)
			var own int
			fmt.Sscanf(ha.do("snm", "snm"), "snm %d", &own)
			ha.do("set "+strings.Join(vips, ","), "set-done")
			if got, want := ha.do("snm", "snm"), fmt.Sprintf("snm %d", own+400); got != want {
				t.Errorf("solicited-node groups after joining 400 (the node's own: %d): %q, want %q", own, got, want)
			}
			for _, vip := range []string{"192.0.2.10", "198.51.100.209", "2001:db8::1:0", "2001:db8::2:8f"} {
				if got := ha.do("ifaces "+vip, "ifaces"); got != "ifaces eth0" {
					t.Errorf("announcer interfaces for %s: %q, want eth0", vip, got)
				}
			}
			out, err := exec.Command("ip", "netns", "exec", c, "arping", "-c1", "-w2", "-I", "eth0", "198.51.100.209").CombinedOutput()
			if err != nil || !strings.Contains(strings.ToLower(string(out)), macA) {
				t.Errorf("arping 198.51.100.209 from the client: %v\n%s\nwant a reply from %s", err, out, macA)
			}
			out, err = exec.Command("ip", "netns", "exec", c, "ndisc6", "-1", "-r2", "-w1000", "2001:db8::2:8f", "eth0").CombinedOutput()
			if err != nil || !strings.Contains(strings.ToLower(string(out)), macA) {
				t.Errorf("ndisc6 2001:db8::2:8f from the client: %v\n%s\nwant %s", err, out, macA)
			}
			ha.do("close", "closed")
		})
	}
}
