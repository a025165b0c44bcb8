package l2

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestChooseInterfaces(t *testing.T) {
	mac := func(b byte) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, b} }
	lan := netip.MustParsePrefix("192.0.2.0/24")
	lan6 := netip.MustParsePrefix("2001:db8::/64")
	links := []Link{
		{Name: "lo", MAC: nil, Up: true, Loopback: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		{Name: "eth0", MAC: mac(1), Up: true, Prefixes: []netip.Prefix{lan, lan6}},
		{Name: "eth1", MAC: mac(2), Up: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}},
		{Name: "eth2", MAC: mac(3), Up: false, Prefixes: []netip.Prefix{lan}},
		{Name: "bond0", MAC: mac(4), Up: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}},
		{Name: "eth3", MAC: mac(4), Up: true, Enslaved: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}},
		{Name: "kube-ipvs0", MAC: mac(5), Up: true, NoARP: true, Prefixes: []netip.Prefix{lan}},
		{Name: "veth1234", MAC: mac(6), Up: true, Prefixes: []netip.Prefix{lan}},
		{Name: "cni0", MAC: mac(7), Up: true, Prefixes: []netip.Prefix{lan}},
		{Name: "eth4", MAC: mac(8), Up: true},
	}
	tests := []struct {
		name     string
		ip       string
		explicit []string
		want     []string
	}{
		{"default: the interface on the VIP's subnet", "192.0.2.10", nil, []string{"eth0"}},
		{"default IPv6", "2001:db8::10", nil, []string{"eth0"}},
		{"default: other subnet", "198.51.100.10", nil, []string{"eth1"}},
		{"default: bond master, not its port", "203.0.113.7", nil, []string{"bond0"}},
		{"default: skips down, NOARP and virtual interfaces on the subnet", "192.0.2.200", nil, []string{"eth0"}},
		{"default: subnet nowhere", "2001:db8:1::1", nil, nil},
		{"explicit narrows to the listed one on the subnet", "192.0.2.10", []string{"eth0", "eth1"}, []string{"eth0"}},
		{"explicit with no subnet match: the listed usable ones", "2001:db8:1::1", []string{"eth1", "eth4", "eth2"}, []string{"eth1", "eth4"}},
		{"explicit pattern", "192.0.2.10", []string{"eth*"}, []string{"eth0"}},
		{"explicit may name a virtual interface", "192.0.2.10", []string{"veth1234"}, []string{"veth1234"}},
		{"explicit never names enslaved, down or NOARP", "192.0.2.10", []string{"eth2", "eth3", "kube-ipvs0"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ChooseInterfaces(links, netip.MustParseAddr(tt.ip), tt.explicit)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ChooseInterfaces(%s, %v) = %v, want %v", tt.ip, tt.explicit, got, tt.want)
			}
		})
	}
}

// fakeSystem stands in for the kernel: links are set by the test, sockets
// record what is written and deliver what the test injects.
type fakeSystem struct {
	mu       sync.Mutex
	ls       []Link
	conns    map[string]*fakeConn
	openErr  map[string]error
	changed  func()
	opened   int
	watching chan struct{}
}

func newFakeSystem(ls ...Link) *fakeSystem {
	return &fakeSystem{ls: ls, conns: map[string]*fakeConn{}, openErr: map[string]error{}, watching: make(chan struct{})}
}

func (s *fakeSystem) interfaces() ([]Link, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ls), nil
}

func (s *fakeSystem) open(l Link) (ifaceSockets, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.openErr[l.Name]; err != nil {
		return nil, err
	}
	s.opened++
	c := &fakeConn{in4: make(chan []byte, 16), in6: make(chan []byte, 16), done: make(chan struct{}), groups: map[netip.Addr]bool{}, readErr: make(chan error, 1)}
	s.conns[l.Name] = c
	return c, nil
}

func (s *fakeSystem) watch(stop <-chan struct{}, changed func()) error {
	s.mu.Lock()
	s.changed = changed
	s.mu.Unlock()
	close(s.watching)
	<-stop
	return nil
}

func (s *fakeSystem) conn(name string) *fakeConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[name]
}

type fakeConn struct {
	mu      sync.Mutex
	written [][]byte
	filter  []netip.Addr
	fits    int // the most VIPs an exact filter may name; 0: any number
	groups  map[netip.Addr]bool
	in4     chan []byte
	in6     chan []byte
	done    chan struct{}
	closed  bool
	readErr chan error
}

func (c *fakeConn) setFilter(held []netip.Addr) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.filter = slices.Clone(held)
	// Like a kernel whose net.core.optmem_max fits filters for this many.
	return c.fits == 0 || len(held) <= c.fits, nil
}

func (c *fakeConn) read(in chan []byte, b []byte) (int, error) {
	select {
	case f := <-in:
		return copy(b, f), nil
	case err := <-c.readErr:
		return 0, err
	case <-c.done:
		return 0, net.ErrClosed
	}
}
func (c *fakeConn) readARP(b []byte) (int, error) { return c.read(c.in4, b) }
func (c *fakeConn) readNDP(b []byte) (int, error) { return c.read(c.in6, b) }
func (c *fakeConn) write(f []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written = append(c.written, slices.Clone(f))
	return nil
}
func (c *fakeConn) writeARP(f []byte) error { return c.write(f) }
func (c *fakeConn) writeNDP(f []byte) error { return c.write(f) }
func (c *fakeConn) join(g netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups[g] {
		return errors.New("already joined") // as the kernel says EADDRINUSE
	}
	c.groups[g] = true
	return nil
}
func (c *fakeConn) leave(g netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.groups, g)
	return nil
}
func (c *fakeConn) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		clear(c.groups)
		close(c.done)
	}
	return nil
}
func (c *fakeConn) take() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.written
	c.written = nil
	return w
}

func eth0() Link {
	return Link{Name: "eth0", Index: 2, MAC: ourMAC, Up: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/64")}}
}

func newTestAnnouncer(t *testing.T, sys *fakeSystem, refresh time.Duration) (*Announcer, *clocktesting.FakeClock, *prometheus.Registry) {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	reg := prometheus.NewRegistry()
	a, err := NewAnnouncer(Config{Registerer: reg, Refresh: refresh, Clock: clk, sys: sys})
	if err != nil {
		t.Fatal(err)
	}
	<-sys.watching
	return a, clk, reg
}

// eventually polls cond; the announcer's loop runs on its own goroutine.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("never happened: %s", what)
}

func countGratuitous(frames [][]byte) (v4, v6 int) {
	for _, f := range frames {
		switch {
		case len(f) > 13 && f[12] == 0x08 && f[13] == 0x06:
			v4++
		case len(f) > 13 && f[12] == 0x86 && f[13] == 0xdd:
			v6++
		}
	}
	return v4, v6
}

func TestSetAnnouncesBeforeReturningThenBursts(t *testing.T) {
	sys := newFakeSystem(eth0())
	a, clk, reg := newTestAnnouncer(t, sys, time.Minute)
	defer a.Close()

	a.Set([]Announcement{{Group: "vip-192.0.2.10", IPs: []netip.Addr{heldV4, heldV6}}})
	c := sys.conn("eth0")
	if c == nil {
		t.Fatal("Set opened no sockets on eth0")
	}
	// Sent before Set returned: both gratuitous ARP forms and one NA.
	if v4, v6 := countGratuitous(c.take()); v4 != 2 || v6 != 1 {
		t.Fatalf("before Set returned: %d ARP and %d NA frames, want 2 and 1", v4, v6)
	}
	if got := a.Interfaces(heldV4); !slices.Equal(got, []string{"eth0"}) {
		t.Errorf("Interfaces(%s) = %v, want [eth0]", heldV4, got)
	}
	if !slices.Equal(c.filter, []netip.Addr{heldV4, heldV6}) {
		t.Errorf("kernel filter holds %v", c.filter)
	}
	snm := netip.MustParseAddr("ff02::1:ff00:10")
	if !c.groups[snm] {
		t.Errorf("not a member of %s", snm)
	}

	// The burst: +0.5s, +1s, +2s, then the refresh every minute.
	for i, step := range []time.Duration{500 * time.Millisecond, 500 * time.Millisecond, time.Second, time.Minute} {
		eventually(t, func() bool { return clk.HasWaiters() }, "loop waiting on its timer")
		clk.Step(step)
		var v4, v6 int
		eventually(t, func() bool {
			a, b := countGratuitous(c.take())
			v4, v6 = v4+a, v6+b
			return v4 == 2 && v6 == 1
		}, "burst step sent")
		_ = i
	}
	if got := testutil.ToFloat64(a.m.gratuitous.WithLabelValues("eth0", familyIPv4)); got != 10 {
		t.Errorf("gratuitous_sent_total{ipv4} = %v, want 10", got)
	}
	if n, _ := testutil.GatherAndCount(reg, "leaselb_l2_gratuitous_sent_total"); n != 2 {
		t.Errorf("%d gratuitous series, want 2 (interface x family)", n)
	}

	// Release: nothing is sent, nothing answered, group left, socket closed.
	a.Set(nil)
	if w := c.take(); len(w) != 0 {
		t.Errorf("release sent %d frames, want none", len(w))
	}
	if !c.closed || len(c.groups) != 0 {
		t.Errorf("after release: closed=%v groups=%v", c.closed, c.groups)
	}
	if got := a.Interfaces(heldV4); len(got) != 0 {
		t.Errorf("Interfaces after release = %v", got)
	}
}

func TestAnswersAndClaims(t *testing.T) {
	sys := newFakeSystem(eth0())
	a, _, reg := newTestAnnouncer(t, sys, 0)
	defer a.Close()
	a.Set([]Announcement{{Group: "g", IPs: []netip.Addr{heldV4}}})
	c := sys.conn("eth0")
	c.take()

	c.in4 <- mustARP(t, arp.OperationRequest, clientMAC, clientV4, ethZero, heldV4, ethBroadcast)
	eventually(t, func() bool { return testutil.ToFloat64(a.m.replies.WithLabelValues("eth0", familyIPv4)) == 1 }, "reply sent")
	c.in4 <- mustARP(t, arp.OperationReply, rivalMAC, heldV4, ethBroadcast, heldV4, ethBroadcast)
	select {
	case cl := <-a.Claims():
		if cl.IP != heldV4 || cl.MAC.String() != rivalMAC.String() || cl.Interface != "eth0" {
			t.Errorf("claim %+v", cl)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no claim")
	}
	c.in4 <- []byte("garbage")
	eventually(t, func() bool { return testutil.ToFloat64(a.m.malformed.WithLabelValues("eth0", familyIPv4)) == 1 }, "malformed counted")
	if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
		t.Errorf("metrics do not gather: %v", err)
	}
}

// A kernel that refuses the filter naming the VIPs leaves answers right:
// the coarse filter stands in, the gauge and the log say so, and a smaller
// set filters exactly again.
func TestRefusedFilterKeepsAnswering(t *testing.T) {
	sys := newFakeSystem(eth0())
	a, _, _ := newTestAnnouncer(t, sys, 0)
	defer a.Close()
	a.Set([]Announcement{{Group: "g", IPs: []netip.Addr{heldV4}}})
	c := sys.conn("eth0")
	c.mu.Lock()
	c.fits = 1
	c.mu.Unlock()
	coarse := func() float64 { return testutil.ToFloat64(a.m.coarse.WithLabelValues("eth0")) }
	for _, tc := range []struct {
		name       string
		held       []netip.Addr
		wantCoarse float64
	}{
		{"two VIPs, room for one", []netip.Addr{heldV4, heldV6}, 1},
		{"one VIP again", []netip.Addr{heldV6}, 0},
	} {
		a.Set([]Announcement{{Group: "g", IPs: tc.held}})
		if got := coarse(); got != tc.wantCoarse {
			t.Errorf("%s: kernel_filter_coarse %v, want %v", tc.name, got, tc.wantCoarse)
		}
		for _, ip := range tc.held {
			if got := a.Interfaces(ip); !slices.Equal(got, []string{"eth0"}) {
				t.Errorf("%s: %s answered on %v, want eth0", tc.name, ip, got)
			}
		}
	}
	if n := sys.opened; n != 1 {
		t.Errorf("sockets opened %d times, want once: a refused filter is no socket failure", n)
	}
}

func TestClaimsDropRatherThanBlock(t *testing.T) {
	sys := newFakeSystem(eth0())
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	a, err := NewAnnouncer(Config{Clock: clk, ClaimBuffer: 1, sys: sys})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.Set([]Announcement{{Group: "g", IPs: []netip.Addr{heldV4}}})
	c := sys.conn("eth0")
	for range 5 {
		c.in4 <- mustARP(t, arp.OperationReply, rivalMAC, heldV4, ethBroadcast, heldV4, ethBroadcast)
	}
	eventually(t, func() bool { return testutil.ToFloat64(a.m.claimsLost) == 4 }, "four claims dropped")
	// The receive path still answers.
	c.in4 <- mustARP(t, arp.OperationRequest, clientMAC, clientV4, ethZero, heldV4, ethBroadcast)
	eventually(t, func() bool { return testutil.ToFloat64(a.m.replies.WithLabelValues("eth0", familyIPv4)) == 1 }, "reply after a full claims channel")
}

func TestGroupsAreReferenceCounted(t *testing.T) {
	sys := newFakeSystem(eth0())
	a, _, _ := newTestAnnouncer(t, sys, 0)
	defer a.Close()
	// 2001:db8::10 and 2001:db8:0:0:1::10 share ff02::1:ff00:10.
	twin := netip.MustParseAddr("2001:db8::1:0:0:10")
	snm := netip.MustParseAddr("ff02::1:ff00:10")
	a.Set([]Announcement{{Group: "a", IPs: []netip.Addr{heldV6}}, {Group: "b", IPs: []netip.Addr{twin}}})
	c := sys.conn("eth0")
	a.Set([]Announcement{{Group: "b", IPs: []netip.Addr{twin}}})
	if !c.groups[snm] {
		t.Fatal("left the group while another VIP still needs it")
	}
	a.Set([]Announcement{{Group: "b", IPs: []netip.Addr{twin, heldV4}}, {Group: "c", IPs: []netip.Addr{otherV6}}})
	if !c.groups[snm] || !c.groups[netip.MustParseAddr("ff02::1:ff00:11")] {
		t.Fatalf("groups %v", c.groups)
	}
	a.Set([]Announcement{{Group: "b", IPs: []netip.Addr{heldV4}}})
	if len(c.groups) != 0 {
		t.Errorf("groups %v after the last IPv6 VIP went, want none", c.groups)
	}
}

func TestHotPlugAndRetry(t *testing.T) {
	sys := newFakeSystem()
	sys.openErr["eth0"] = errors.New("boom")
	a, clk, _ := newTestAnnouncer(t, sys, 0)
	defer a.Close()
	a.Set([]Announcement{{Group: "g", IPs: []netip.Addr{heldV4}}})
	if got := a.Interfaces(heldV4); len(got) != 0 {
		t.Fatalf("answering on %v with no interface", got)
	}
	// eth0 appears; opening it fails once, then works after the backoff.
	sys.mu.Lock()
	sys.ls = []Link{eth0()}
	changed := sys.changed
	sys.mu.Unlock()
	changed()
	eventually(t, func() bool { return testutil.ToFloat64(a.m.socketErrors.WithLabelValues("eth0")) == 1 }, "open failure counted")
	sys.mu.Lock()
	delete(sys.openErr, "eth0")
	sys.mu.Unlock()
	eventually(t, func() bool { return clk.HasWaiters() }, "retry timer armed")
	clk.Step(time.Second)
	eventually(t, func() bool { return slices.Equal(a.Interfaces(heldV4), []string{"eth0"}) }, "eth0 answering after retry")
	if v4, _ := countGratuitous(sys.conn("eth0").take()); v4 != 2 {
		t.Errorf("%d gratuitous ARP frames on the new interface, want 2", v4)
	}
	// eth0 goes down: no longer answering.
	sys.mu.Lock()
	l := eth0()
	l.Up = false
	sys.ls = []Link{l}
	sys.mu.Unlock()
	changed()
	eventually(t, func() bool { return len(a.Interfaces(heldV4)) == 0 }, "eth0 dropped when down")
	// Its MAC stays published while it exists (a brief link-down must not
	// make the others call our frames a conflict), and goes with it.
	if got := a.MACs(); len(got) != 1 || !slices.Equal(got[0], eth0().MAC) {
		t.Errorf("MACs %v with the only interface down, want its last known MAC", got)
	}
	select {
	case <-a.LinksChanged():
	default:
		t.Errorf("no LinksChanged after eth0 went down")
	}
	sys.mu.Lock()
	sys.ls = nil
	sys.mu.Unlock()
	changed()
	eventually(t, func() bool { return len(a.MACs()) == 0 }, "MAC forgotten when the interface is gone")
}

func TestReannounceSendsNowOnlyForHeld(t *testing.T) {
	sys := newFakeSystem(eth0())
	a, _, _ := newTestAnnouncer(t, sys, 0)
	defer a.Close()
	a.Set([]Announcement{{Group: "g", IPs: []netip.Addr{heldV4, heldV6}}})
	c := sys.conn("eth0")
	c.take()
	a.Reannounce([]netip.Addr{heldV4, netip.MustParseAddr("192.0.2.99")})
	if v4, v6 := countGratuitous(c.take()); v4 != 2 || v6 != 0 {
		t.Errorf("Reannounce(held v4, unheld) sent %d ARP and %d NA frames, want 2 and 0", v4, v6)
	}
	a.Reannounce([]netip.Addr{heldV6})
	if v4, v6 := countGratuitous(c.take()); v4 != 0 || v6 != 1 {
		t.Errorf("Reannounce(held v6) sent %d ARP and %d NA frames, want 0 and 1", v4, v6)
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	sys := newFakeSystem(eth0())
	a, _, _ := newTestAnnouncer(t, sys, time.Minute)
	a.Set([]Announcement{{Group: "g", IPs: []netip.Addr{heldV4, heldV6}}})
	c := sys.conn("eth0")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !c.closed || len(c.groups) != 0 {
		t.Errorf("after Close: socket closed=%v, groups %v", c.closed, c.groups)
	}
	if _, ok := <-a.Claims(); ok {
		t.Error("Claims channel open after Close")
	}
	eventually(t, func() bool { return runtime.NumGoroutine() <= before }, "goroutines back to where they were")
	a.Set([]Announcement{{Group: "g", IPs: []netip.Addr{heldV4}}}) // no panic, no effect
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A read error on one interface closes and retries that interface with
// backoff (and a fresh burst); the other interface keeps answering.
func TestReadErrorRetriesOneInterface(t *testing.T) {
	eth1 := eth0()
	eth1.Name, eth1.Index, eth1.MAC = "eth1", 3, otherOurs
	sys := newFakeSystem(eth0(), eth1)
	a, clk, _ := newTestAnnouncer(t, sys, 0)
	defer a.Close()
	a.Set([]Announcement{{Group: "g", IPs: []netip.Addr{heldV4}}})
	if got := a.Interfaces(heldV4); !slices.Equal(got, []string{"eth0", "eth1"}) {
		t.Fatalf("Interfaces = %v, want both", got)
	}
	bad := sys.conn("eth1")
	bad.readErr <- errors.New("network is down")
	eventually(t, func() bool { return slices.Equal(a.Interfaces(heldV4), []string{"eth0"}) }, "eth1 closed after its read error")
	if !bad.closed {
		t.Error("failed socket not closed")
	}
	good := sys.conn("eth0")
	good.take()
	good.in4 <- mustARP(t, arp.OperationRequest, clientMAC, clientV4, ethZero, heldV4, ethBroadcast)
	eventually(t, func() bool { return testutil.ToFloat64(a.m.replies.WithLabelValues("eth0", familyIPv4)) == 1 }, "eth0 still answering")

	eventually(t, func() bool { return clk.HasWaiters() }, "retry timer armed")
	clk.Step(time.Second)
	eventually(t, func() bool { return slices.Equal(a.Interfaces(heldV4), []string{"eth0", "eth1"}) }, "eth1 back after the backoff")
	if v4, _ := countGratuitous(sys.conn("eth1").take()); v4 != 2 {
		t.Errorf("%d gratuitous ARP frames on eth1 after the retry, want 2 (a fresh burst)", v4)
	}
	// The new sockets start with a filter that drops everything.
	reopened := sys.conn("eth1")
	reopened.mu.Lock()
	defer reopened.mu.Unlock()
	if !slices.Equal(reopened.filter, []netip.Addr{heldV4}) {
		t.Errorf("filter of eth1's new sockets = %v, want %v", reopened.filter, heldV4)
	}
}

// TestVirtualPrefixesAreMinimal keeps virtualPrefixes free of entries that
// another already covers, and checks the names they must cover.
func TestVirtualPrefixesAreMinimal(t *testing.T) {
	for i, p := range virtualPrefixes {
		for j, q := range virtualPrefixes {
			if i != j && strings.HasPrefix(p, q) {
				t.Errorf("virtualPrefixes entry %q is covered by %q", p, q)
			}
		}
	}
	for _, name := range []string{"kube-ipvs0", "kube-bridge", "kube-dummy-if", "nodelocaldns", "tunl0", "cni0", "veth1234", "flannel.1", "cilium_host", "wg0"} {
		if !isVirtual(name) {
			t.Errorf("isVirtual(%q) = false, want true", name)
		}
	}
	for _, name := range []string{"eth0", "enp3s0", "bond0", "br0", "wlan0"} {
		if isVirtual(name) {
			t.Errorf("isVirtual(%q) = true, want false", name)
		}
	}
}

func TestExceptNeverAnswers(t *testing.T) {
	eth1 := eth0()
	eth1.Name, eth1.Index, eth1.MAC = "eth1", eth1.Index+1, net.HardwareAddr{2, 0, 0, 0, 0, 0x11}
	sys := newFakeSystem(eth0(), eth1)
	a, _, _ := newTestAnnouncer(t, sys, 0)
	defer a.Close()
	a.Set([]Announcement{{Group: "g", IPs: []netip.Addr{heldV4}, Except: []string{"eth1"}}})
	if got := a.Interfaces(heldV4); !slices.Equal(got, []string{"eth0"}) {
		t.Fatalf("answering on %v, want only eth0 (eth1 excepted)", got)
	}
	if c := sys.conn("eth1"); c != nil {
		if v4, _ := countGratuitous(c.take()); v4 != 0 {
			t.Errorf("%d gratuitous ARP frames on the excepted eth1", v4)
		}
	}
	// Lifting the exception announces on eth1 at once.
	a.Set([]Announcement{{Group: "g", IPs: []netip.Addr{heldV4}}})
	if got := a.Interfaces(heldV4); !slices.Equal(got, []string{"eth0", "eth1"}) {
		t.Fatalf("answering on %v, want eth0 and eth1", got)
	}
	if v4, _ := countGratuitous(sys.conn("eth1").take()); v4 != 2 {
		t.Errorf("%d gratuitous ARP frames on eth1 once no longer excepted, want 2", v4)
	}
}
