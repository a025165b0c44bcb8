//go:build linux

package l2

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// The root tests build a small LAN out of network namespaces: a switch
// namespace holding bridge br0, and one namespace per host whose uplink is
// a veth named eth0 (as on a real node) with its peer on the bridge. The
// announcer runs as this test binary re-executed under `ip netns exec`, so the
// whole process, netlink included, lives in the node's namespace.

const helperEnv = "LEASELB_L2_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helperMain())
	}
	os.Exit(m.Run())
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and raw sockets")
	}
	for _, tool := range []string{"ip", "ping", "arping", "ndisc6"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (hack/install-deps.sh installs it)", tool)
		}
	}
}

var nsCounter atomic.Int32

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// lan is a bridge in its own namespace and the hosts plugged into it.
type lan struct {
	t      testing.TB
	prefix string
	sw     string
}

func newLAN(t testing.TB) *lan {
	requireRoot(t)
	l := &lan{t: t, prefix: fmt.Sprintf("llt-%d-%d", os.Getpid(), nsCounter.Add(1))}
	l.sw = l.addNS("sw")
	run(t, "ip", "-n", l.sw, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", l.sw, "link", "set", "br0", "up")
	return l
}

func (l *lan) addNS(role string) string {
	name := l.prefix + "-" + role
	run(l.t, "ip", "netns", "add", name)
	l.t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	return name
}

// addHost makes a namespace whose eth0 is on the bridge, with the given
// addresses (CIDR notation).
func (l *lan) addHost(role string, addrs ...string) string {
	ns := l.addNS(role)
	for _, s := range []string{"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"} {
		run(l.t, "ip", "netns", "exec", ns, "sysctl", "-qw", s)
	}
	run(l.t, "ip", "-n", l.sw, "link", "add", "p-"+role, "type", "veth", "peer", "name", "eth0", "netns", ns)
	run(l.t, "ip", "-n", l.sw, "link", "set", "p-"+role, "master", "br0", "up")
	run(l.t, "ip", "-n", ns, "link", "set", "lo", "up")
	for _, a := range addrs {
		run(l.t, "ip", "-n", ns, "addr", "add", a, "dev", "eth0", "nodad")
	}
	run(l.t, "ip", "-n", ns, "link", "set", "eth0", "up")
	return ns
}

func macOf(t testing.TB, ns, dev string) string {
	out := run(t, "ip", "-n", ns, "-o", "link", "show", dev)
	f := strings.Fields(out)
	for i, w := range f {
		if w == "link/ether" {
			return f[i+1]
		}
	}
	t.Fatalf("no MAC in %q", out)
	return ""
}

// helper is an announcer process in a namespace.
type helper struct {
	t     testing.TB
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	pid   int
	ns    string
}

func startHelper(t testing.TB, ns string, env ...string) *helper {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=1"}, env...)...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{t: t, cmd: cmd, in: in, lines: make(chan string, 1024), pid: cmd.Process.Pid, ns: ns}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	t.Cleanup(func() {
		_ = in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	h.expect("ready")
	return h
}

// do sends one command and waits for the line that starts with want.
func (h *helper) do(cmd, want string) string {
	h.t.Helper()
	fmt.Fprintln(h.in, cmd)
	return h.expect(want)
}

func (h *helper) expect(prefix string) string {
	h.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				h.t.Fatalf("announcer process ended while waiting for %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			h.t.Fatalf("announcer process: no %q within 10s", prefix)
		}
	}
}

// helperMain is the announcer process. Commands on stdin, one per line:
// "set ip,ip,..." (empty list releases everything), "ifaces ip", "macs", "addrs",
// "close". Claims are printed as they arrive.
func helperMain() int {
	if p := os.Getenv("LEASELB_L2_GOMAXPROCS"); p != "" {
		n, _ := strconv.Atoi(p)
		runtime.GOMAXPROCS(n)
	}
	baseline := runtime.NumGoroutine()
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	refresh := 0 * time.Second
	if r := os.Getenv("LEASELB_L2_REFRESH"); r != "" {
		refresh, _ = time.ParseDuration(r)
	}
	if m := os.Getenv("LEASELB_L2_MAX_FILTERED"); m != "" {
		maxFilteredIPv4, _ = strconv.Atoi(m)
		maxFilteredIPv6 = maxFilteredIPv4
	}
	a, err := NewAnnouncer(Config{Logger: zap.NewNop(), Refresh: refresh, Rescan: time.Second})
	if err != nil {
		say("error %v", err)
		return 1
	}
	claimsDone := make(chan struct{})
	go func() {
		defer close(claimsDone)
		for c := range a.Claims() {
			say("claim %s %s %s", c.IP, c.MAC, c.Interface)
		}
	}()
	probesDone := make(chan struct{})
	go func() {
		defer close(probesDone)
		for r := range a.ProbeResults() {
			if r.Alive {
				say("probe alive %s", r.Node)
			} else {
				say("probe silent %s host=%v", r.Node, r.HostSilent)
			}
		}
	}()
	say("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "set":
			var ips []netip.Addr
			if len(f) > 1 {
				for _, s := range strings.Split(f[1], ",") {
					ips = append(ips, netip.MustParseAddr(s))
				}
			}
			var d []Announcement
			if len(ips) > 0 {
				d = []Announcement{{Group: "vip-test", IPs: ips}}
			}
			start := time.Now()
			a.Set(d)
			say("set-done %d", time.Since(start).Microseconds())
		case "probe": // probe node ip mac [addr,addr...] (no arguments: stop probing)
			var ts []ProbeTarget
			if len(f) >= 4 {
				mac, _ := net.ParseMAC(f[3])
				t := ProbeTarget{Node: f[1], IP: netip.MustParseAddr(f[2]), MACs: []net.HardwareAddr{mac}}
				if len(f) == 5 {
					for _, s := range strings.Split(f[4], ",") {
						t.Addrs = append(t.Addrs, netip.MustParseAddr(s))
					}
				}
				ts = []ProbeTarget{t}
			}
			a.Probe(ts)
			say("probe-set")
		case "ifaces":
			say("ifaces %s", strings.Join(a.Interfaces(netip.MustParseAddr(f[1])), ","))
		case "groups":
			say("groups %d", countVIPGroups())
		case "snm":
			say("snm %d", countSolicitedNode())
		case "addrs":
			var s []string
			for _, ip := range a.Addrs() {
				s = append(s, ip.String())
			}
			say("addrs %s", strings.Join(s, ","))
		case "macs":
			var s []string
			for _, m := range a.MACs() {
				s = append(s, m.String())
			}
			say("macs %s", strings.Join(s, ","))
		case "close":
			err := a.Close()
			<-claimsDone
			<-probesDone
			// Everything the announcer started must be gone.
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > baseline+1 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			say("closed err=%v goroutines=%d baseline=%d packet_sockets=%d vip_groups=%d",
				err, runtime.NumGoroutine(), baseline, countPacketSockets(), countVIPGroups())
			return 0
		}
	}
	_ = a.Close()
	return 0
}

// countVIPGroups counts memberships of ff02::1:ff00:10, the solicited-node
// group of 2001:db8::10 (and of every test VIP ending in ::10).
func countVIPGroups() int { return countIGMP6("ff0200000000000000000001ff000010") }

// countSolicitedNode counts the namespace's solicited-node groups.
func countSolicitedNode() int { return countIGMP6("ff0200000000000000000001ff") }

// countIGMP6 counts the namespace's IPv6 memberships whose group (in
// /proc/net/igmp6's hex) starts with prefix.
func countIGMP6(prefix string) int {
	b, _ := os.ReadFile("/proc/net/igmp6")
	return strings.Count(string(b), prefix)
}

func countPacketSockets() int {
	b, err := os.ReadFile("/proc/net/packet")
	if err != nil {
		return -1
	}
	return len(strings.Split(strings.TrimSpace(string(b)), "\n")) - 1
}

// neigh returns the client's neighbour entry for ip: MAC and state.
func neigh(t testing.TB, ns, ip string) (mac, state string) {
	out := strings.TrimSpace(run(t, "ip", "-n", ns, "neigh", "show", ip, "dev", "eth0"))
	f := strings.Fields(out)
	for i, w := range f {
		if w == "lladdr" && i+1 < len(f) {
			mac = f[i+1]
		}
	}
	if len(f) > 0 {
		state = f[len(f)-1]
	}
	return mac, state
}

func waitNeigh(t testing.TB, ns, ip, wantMAC string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mac, state := neigh(t, ns, ip)
		if mac == wantMAC {
			return state
		}
		if time.Now().After(deadline) {
			t.Fatalf("client neighbour entry for %s: lladdr %q state %q, want lladdr %s", ip, mac, state, wantMAC)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fmtSscanf(line string, g, base *int) (int, error) {
	i := strings.Index(line, "goroutines=")
	if i < 0 {
		return 0, fmt.Errorf("no goroutines= in %q", line)
	}
	return fmt.Sscanf(line[i:], "goroutines=%d baseline=%d", g, base)
}

func waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }
