package l2

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRootProbe probes a real holder process on a bridge, over real
// sockets: its answers (user space, through handleARP and handleNS) report it
// alive; stopped with SIGSTOP it answers nothing (its kernel does not own the
// VIP, so nothing else answers either) and is reported silent; continued,
// it answers again.
func TestRootProbe(t *testing.T) {
	_, macA, ha, hb := probeLAN(t, vip4+","+vip6)
	for _, ip := range []string{vip4, vip6} {
		t.Run(ip, func(t *testing.T) {
			// A node name per family, so no line of the other subtest
			// counts.
			node := "holder-" + ip
			hb.do("probe "+node+" "+ip+" "+macA, "probe-set")
			hb.expect("probe alive " + node)
			if err := syscall.Kill(ha.pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			hb.expect("probe silent " + node + " host=false")
			if err := syscall.Kill(ha.pid, syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			hb.expect("probe alive " + node)
			hb.do("probe", "probe-set")
		})
	}
}

// TestRootProbeHost probes a holder for its VIP and for its node's own
// address, over real sockets: stopped with SIGSTOP, its kernel still answers
// for the address, so it stays alive however long it is stopped; with its
// link down, it is silent, and reported silent as a host. Each family gets
// a LAN of its own: a link going down drops its IPv6 addresses.
func TestRootProbeHost(t *testing.T) {
	for _, tc := range []struct{ vip, addr string }{{vip4, "192.0.2.1"}, {vip6, "2001:db8::1"}} {
		t.Run(tc.vip, func(t *testing.T) {
			a, macA, ha, hb := probeLAN(t, tc.vip)
			node := "host-" + tc.vip
			hb.do("probe "+node+" "+tc.vip+" "+macA+" "+tc.addr, "probe-set")
			hb.expect("probe alive " + node)
			if err := syscall.Kill(ha.pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			// Ten rounds (a second) without a silence: the kernel answers.
			deadline := time.After(10 * DefaultProbeInterval)
		wait:
			for {
				select {
				case line := <-hb.lines:
					if strings.HasPrefix(line, "probe silent "+node) {
						t.Fatalf("stopped speaker, live kernel: %q", line)
					}
				case <-deadline:
					break wait
				}
			}
			if err := syscall.Kill(ha.pid, syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			run(t, "ip", "-n", a, "link", "set", "eth0", "down")
			hb.expect("probe silent " + node + " host=true")
			hb.do("probe", "probe-set")
		})
	}
}

// probeLAN puts two hosts on a bridge, a (192.0.2.1, 2001:db8::1) answering
// for vips (comma-separated) and b (192.0.2.2, 2001:db8::2) to probe it,
// each an announcer process; it returns a's namespace and MAC and both
// processes.
func probeLAN(t *testing.T, vips string) (a, macA string, ha, hb *helper) {
	l := newLAN(t)
	a = l.addHost("a", "192.0.2.1/24", "2001:db8::1/64")
	b := l.addHost("b", "192.0.2.2/24", "2001:db8::2/64")
	macA = macOf(t, a, "eth0")
	ha = startHelper(t, a)
	hb = startHelper(t, b)
	ha.do("set "+vips, "set-done")
	return a, macA, ha, hb
}
