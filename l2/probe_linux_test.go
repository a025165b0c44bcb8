package l2

import (
	"syscall"
	"testing"
)

// TestRootProbe probes a real holder process on a bridge, over real
// sockets: its answers (user space, through handleARP and handleNS) report it
// alive; stopped with SIGSTOP it answers nothing (its kernel does not own the
// VIP, so nothing else answers either) and is reported silent; continued,
// it answers again.
func TestRootProbe(t *testing.T) {
	l := newLAN(t)
	a := l.addHost("a", "192.0.2.1/24", "2001:db8::1/64")
	b := l.addHost("b", "192.0.2.2/24", "2001:db8::2/64")
	macA := macOf(t, a, "eth0")
	ha := startHelper(t, a)
	hb := startHelper(t, b)
	ha.do("set "+vip4+","+vip6, "set-done")
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
			hb.expect("probe silent " + node)
			if err := syscall.Kill(ha.pid, syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			hb.expect("probe alive " + node)
			hb.do("probe", "probe-set")
		})
	}
}
