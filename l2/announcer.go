package l2

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/utils/clock"
)

// ErrUnimplemented is returned by NewAnnouncer on platforms without raw
// packet sockets (everything but Linux).
var ErrUnimplemented = errors.New("l2: ARP/NDP announcing is only implemented on Linux")

// DefaultRefresh is the refresh period the speaker's --refresh-interval
// defaults to (Config.Refresh itself has no default: zero turns refreshes
// off).
const DefaultRefresh = 60 * time.Second

// Defaults for the zero timing fields of Config.
const (
	defaultRescan   = 30 * time.Second
	defaultRetryMin = time.Second
	defaultRetryMax = 30 * time.Second
)

// defaultBurst is the takeover burst after the first announcement.
var defaultBurst = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}

// An Announcement says that this node holds Group and must answer for IPs.
type Announcement struct {
	// Group is the group (lease) name, for logs only; never a metric label.
	Group string
	// IPs are the VIPs to answer for, IPv4 and IPv6.
	IPs []netip.Addr
	// Interfaces come from L2Advertisement.spec.interfaces: names or shell
	// patterns. Empty means the default choice.
	Interfaces []string
	// Except are interfaces that must not answer for IPs even if chosen:
	// the speaker's links still in their hold-down, or back but not yet
	// revalidated against the Leases. Applied after the choice, so it
	// never widens it.
	Except []string
}

// A Claim is a frame seen on the wire (ARP reply, gratuitous ARP, ARP request
// from the VIP, or Neighbor Advertisement) that claims one of our held IPs
// from a MAC that is not ours.
type Claim struct {
	IP        netip.Addr
	MAC       net.HardwareAddr
	Interface string
}

// Config configures an Announcer. The zero value of every field but Logger
// and Registerer is a sane default.
type Config struct {
	// Logger receives state changes (info) and socket trouble; never one
	// line per packet. Nil means no logs.
	Logger *zap.Logger
	// Registerer receives the leaselb_l2_* metrics. Nil means a private
	// registry (metrics are then not exported).
	Registerer prometheus.Registerer
	// Refresh is the period of gratuitous refreshes after the takeover
	// burst, so switch FDB and client neighbour entries do not age out;
	// 0 turns it off. The speaker's flag default is DefaultRefresh.
	Refresh time.Duration
	// Burst are the offsets, after the first announcement, of the rest of
	// the takeover burst. Nil means 0.5s, 1s and 2s.
	Burst []time.Duration
	// Rescan is the period of a full interface rescan that backs up the
	// netlink subscription. Zero means 30s.
	Rescan time.Duration
	// RetryMin and RetryMax bound the backoff before an interface whose
	// sockets failed is opened again. Zero means 1s and 30s.
	RetryMin, RetryMax time.Duration
	// ClaimBuffer is the capacity of the Claims channel. Zero means 256.
	ClaimBuffer int
	// ProbeInterval is the period of the wire check's probes (Probe).
	// Zero means DefaultProbeInterval (150 ms).
	ProbeInterval time.Duration
	// ProbeMisses is how many probes in a row must go unanswered before a
	// target is reported silent. Zero means DefaultProbeMisses (3).
	ProbeMisses int
	// Clock drives the burst, refresh, rescan and retry timers. Nil means
	// the real clock.
	Clock clock.WithTicker

	// sys replaces the kernel in tests.
	sys system
}

// system is the kernel side: listing links, opening an interface's sockets
// and watching for link changes. The Linux implementation is thin.
type system interface {
	interfaces() ([]Link, error)
	open(l Link) (ifaceSockets, error)
	// watch calls changed whenever links or addresses change, until stop is
	// closed. It returns when it can no longer watch; the periodic rescan
	// keeps interface choice correct meanwhile.
	watch(stop <-chan struct{}, changed func()) error
}

// ifaceSockets is one interface's sockets.
type ifaceSockets interface {
	// setFilter installs the kernel filters for the VIPs held on the
	// interface; exact is false when the kernel refused them and a filter
	// that passes every frame of the protocol stands in.
	setFilter(held []netip.Addr) (exact bool, err error)
	readARP(b []byte) (int, error)
	readNDP(b []byte) (int, error)
	writeARP(frame []byte) error
	writeNDP(frame []byte) error
	join(group netip.Addr) error
	leave(group netip.Addr) error
	close() error
}

// An Announcer answers ARP and NDP for the VIPs this node holds, announces
// takeovers and reports claims. It is safe for concurrent use.
type Announcer struct {
	log     *zap.Logger
	m       *metrics
	clock   clock.WithTicker
	sys     system
	refresh time.Duration
	burst   []time.Duration
	rescan  time.Duration
	// retryMin and retryMax bound the backoff before failed sockets are
	// opened again.
	retryMin, retryMax time.Duration

	claims chan Claim
	// links receives a value (coalesced, buffer 1) when the interface
	// list changed; see LinksChanged.
	links  chan struct{}
	probe  *prober // the wire check (probe.go)
	wake   chan struct{}
	relist chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup // the loop, the watcher and every reader

	mu      sync.Mutex
	closed  bool
	desired []Announcement
	infos   []Link
	// macs are the last known MACs of the interfaces that could announce,
	// by name, kept while the interface exists (see MACs).
	macs   map[string]net.HardwareAddr
	ifaces map[string]*iface
	sched  map[pair]*schedule
}

// pair is one VIP on one interface.
type pair struct {
	ip    netip.Addr
	iface string
}

// schedule is where one pair is in its takeover burst.
type schedule struct {
	start time.Time
	step  int       // next index into burst; len(burst) means refresh
	next  time.Time // zero: nothing more to send
}

// iface is one interface's sockets and state. Fields other than snap are
// guarded by Announcer.mu.
type iface struct {
	info    Link
	socks   ifaceSockets
	snap    atomic.Pointer[ifaceView] // read lock-free by the readers
	groups  map[netip.Addr]int        // solicited-node group -> held VIPs in it
	retryAt time.Time                 // when failed: when to open again
	backoff time.Duration
	failed  atomic.Bool // a reader hit an error on the current sockets
	coarse  bool        // the kernel refused the filter naming the held VIPs
	// filtered is the held set the open sockets' filters were built for:
	// an apply that leaves it alone does not rebuild them.
	filtered []netip.Addr
}

// NewAnnouncer returns an Announcer that answers for nothing until Set.
func NewAnnouncer(cfg Config) (*Announcer, error) {
	sys := cfg.sys
	if sys == nil {
		var err error
		if sys, err = newSystem(); err != nil {
			return nil, err
		}
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	a := &Announcer{
		log:      cfg.Logger,
		m:        m,
		clock:    cfg.Clock,
		sys:      sys,
		refresh:  cfg.Refresh,
		burst:    cfg.Burst,
		rescan:   cfg.Rescan,
		retryMin: cfg.RetryMin,
		retryMax: cfg.RetryMax,
		links:    make(chan struct{}, 1),
		macs:     map[string]net.HardwareAddr{},
		wake:     make(chan struct{}, 1),
		relist:   make(chan struct{}, 1),
		stop:     make(chan struct{}),
		ifaces:   map[string]*iface{},
		sched:    map[pair]*schedule{},
		probe:    newProber(cfg.ProbeInterval, cfg.ProbeMisses),
	}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	if a.clock == nil {
		a.clock = clock.RealClock{}
	}
	if a.burst == nil {
		a.burst = defaultBurst
	}
	if a.rescan == 0 {
		a.rescan = defaultRescan
	}
	if a.retryMin == 0 {
		a.retryMin = defaultRetryMin
	}
	if a.retryMax == 0 {
		a.retryMax = defaultRetryMax
	}
	if cfg.ClaimBuffer <= 0 {
		cfg.ClaimBuffer = 256
	}
	a.claims = make(chan Claim, cfg.ClaimBuffer)
	links, err := sys.interfaces()
	if err != nil {
		return nil, err
	}
	a.infos = links
	a.rememberMACsLocked()

	a.wg.Add(2)
	go a.loop()
	go func() {
		defer a.wg.Done()
		if err := sys.watch(a.stop, a.linksChanged); err != nil {
			a.log.Warn("not watching interfaces through netlink; falling back to the periodic rescan", zap.Error(err), zap.Duration("rescan", a.rescan))
		}
	}()
	return a, nil
}

// Claims returns the channel of claims seen on the wire. It is buffered;
// when the speaker falls behind, claims are dropped and counted rather than
// stalling the receive path. It is closed by Close.
func (a *Announcer) Claims() <-chan Claim { return a.claims }

// Set replaces the whole desired set. For every VIP newly answered on an
// interface, the first gratuitous ARP (request and reply form) or unsolicited
// Neighbor Advertisement is sent before Set returns; the rest of the burst
// and the refresh follow from the Announcer's own goroutine. VIPs no longer
// desired stop being answered at once and nothing is sent for them.
func (a *Announcer) Set(desired []Announcement) {
	cp := make([]Announcement, len(desired))
	for i, d := range desired {
		cp[i] = Announcement{Group: d.Group, IPs: slices.Clone(d.IPs), Interfaces: slices.Clone(d.Interfaces), Except: slices.Clone(d.Except)}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.desired = cp
	a.applyLocked()
}

// Interfaces returns the names of the interfaces currently answering for ip.
func (a *Announcer) Interfaces(ip netip.Addr) []string {
	ip = ip.Unmap().WithZone("")
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for p := range a.sched {
		if p.ip == ip {
			if f := a.ifaces[p.iface]; f != nil && f.socks != nil {
				out = append(out, p.iface)
			}
		}
	}
	slices.Sort(out)
	return out
}

// MACs returns this host's MACs on the interfaces that can announce: those
// the default choice would use for some subnet, and those answering now.
// An interface that was such once keeps its MAC here while it exists, even
// down: the speaker publishes these on its node lease, and a link that is
// briefly down must not make the other speakers call our frames an IP
// conflict when it returns.
func (a *Announcer) MACs() []net.HardwareAddr {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := map[string]bool{}
	var out []net.HardwareAddr
	for _, m := range a.macs {
		if seen[m.String()] {
			continue
		}
		seen[m.String()] = true
		out = append(out, cloneMAC(m))
	}
	slices.SortFunc(out, func(x, y net.HardwareAddr) int { return slices.Compare(x, y) })
	return out
}

// Addrs returns this host's addresses (global and unique-local) on the
// interfaces MACs lists: the speaker publishes them on its node lease for
// the wire check, whose probes for them this host's kernel answers.
func (a *Announcer) Addrs() []netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []netip.Addr
	for _, l := range a.infos {
		if _, ok := a.macs[l.Name]; !ok {
			continue
		}
		for _, p := range l.Prefixes {
			out = append(out, p.Addr())
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// rememberMACsLocked updates the last known MACs from a.infos: it adds the
// interfaces that can announce now and forgets those that no longer exist.
func (a *Announcer) rememberMACsLocked() {
	exists := map[string]bool{}
	for _, l := range a.infos {
		exists[l.Name] = true
		_, open := a.ifaces[l.Name]
		if l.Usable() && (!isVirtual(l.Name) || open) {
			a.macs[l.Name] = cloneMAC(l.MAC)
		}
	}
	for name := range a.macs {
		if !exists[name] {
			delete(a.macs, name)
		}
	}
}

// Links returns the interfaces as last listed, for the speaker's candidacy
// (with ChooseInterfaces). LinksChanged tells when they change.
func (a *Announcer) Links() []Link {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Link, len(a.infos))
	for i, l := range a.infos {
		l.MAC = cloneMAC(l.MAC)
		l.Prefixes = slices.Clone(l.Prefixes)
		out[i] = l
	}
	return out
}

// LinksChanged returns a channel that receives a value (coalesced, buffer
// 1) whenever the interface list changed: on a netlink link or address
// update, or found by the periodic rescan.
func (a *Announcer) LinksChanged() <-chan struct{} { return a.links }

// Reannounce sends the gratuitous ARP (both forms) or unsolicited NA for
// each of ips now, on every interface answering for it, outside the burst
// schedule. The speaker calls it when it sees a predecessor still claim one
// of its VIPs, so clients and the stale node learn the truth from the wire;
// it rate-limits the calls. IPs not answered are skipped.
func (a *Announcer) Reannounce(ips []netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	for p := range a.sched {
		if !slices.ContainsFunc(ips, func(ip netip.Addr) bool { return ip.Unmap().WithZone("") == p.ip }) {
			continue
		}
		if f := a.ifaces[p.iface]; f != nil && f.socks != nil {
			a.announceLocked(f, p.ip)
		}
	}
}

// Close stops answering, closes every socket (which drops every multicast
// membership) and waits for every goroutine. It sends nothing. It returns
// nil: a socket that fails to close is logged, and there is nothing a
// caller could do about it.
func (a *Announcer) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	for name, f := range a.ifaces {
		a.closeIfaceLocked(name, f)
	}
	a.sched = map[pair]*schedule{}
	a.mu.Unlock()
	a.probe.mu.Lock()
	for name, s := range a.probe.socks {
		a.closeProbeSockets(name, s)
	}
	a.probe.targets = map[string]*probeTarget{}
	a.probe.mu.Unlock()
	close(a.stop)
	a.wg.Wait()
	close(a.claims)
	close(a.probe.results)
	return nil
}

// linksChanged is called by the watcher; it must not block.
func (a *Announcer) linksChanged() {
	select {
	case a.relist <- struct{}{}:
	default:
	}
}

func (a *Announcer) kick() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// loop sends the rest of every burst and the refreshes, rescans interfaces
// and reopens failed ones.
func (a *Announcer) loop() {
	defer a.wg.Done()
	timer := a.clock.NewTimer(time.Hour)
	defer timer.Stop()
	rescan := a.clock.NewTicker(a.rescan)
	defer rescan.Stop()
	for {
		a.mu.Lock()
		next := a.sendDueLocked()
		a.mu.Unlock()
		if !timer.Stop() {
			select {
			case <-timer.C():
			default:
			}
		}
		if !next.IsZero() {
			wait := next.Sub(a.clock.Now())
			if wait <= 0 {
				// Due already (time moved on while we sent): send it now
				// rather than through a zero-length timer.
				continue
			}
			timer.Reset(wait)
		}
		select {
		case <-a.stop:
			return
		case <-a.wake:
		case <-timer.C():
		case <-a.relist:
			a.rescanInterfaces()
		case <-rescan.C():
			a.rescanInterfaces()
		}
	}
}

// rescanInterfaces lists the interfaces again and applies the desired set to them.
func (a *Announcer) rescanInterfaces() {
	links, err := a.sys.interfaces()
	if err != nil {
		a.log.Warn("listing network interfaces failed; keeping the last known list", zap.Error(err))
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	changed := !reflect.DeepEqual(links, a.infos)
	a.infos = links
	a.applyLocked()
	a.rememberMACsLocked()
	if changed {
		select {
		case a.links <- struct{}{}:
		default:
		}
	}
}

// sendDueLocked sends what is due (burst steps, refreshes), reopens the
// interfaces whose retry is due, and returns when the next thing is due;
// zero when nothing is.
func (a *Announcer) sendDueLocked() time.Time {
	if a.closed {
		return time.Time{}
	}
	now := a.clock.Now()
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	retried := false
	for _, f := range a.ifaces {
		if f.socks == nil && !f.retryAt.IsZero() {
			if !f.retryAt.After(now) {
				retried = true
			} else {
				earliest(f.retryAt)
			}
		}
		if f.socks != nil && f.failed.Load() {
			// A reader hit an error: close now, reopen after backoff.
			a.failIfaceLocked(f, errors.New("read failed"))
			earliest(f.retryAt)
		}
	}
	if retried {
		a.applyLocked()
	}
	for p, s := range a.sched {
		if s.next.IsZero() {
			continue
		}
		if !s.next.After(now) {
			if f := a.ifaces[p.iface]; f != nil && f.socks != nil {
				a.announceLocked(f, p.ip)
			}
			s.step++
			s.next = a.nextSend(s, now)
		}
		earliest(s.next)
	}
	return next
}

// applyLocked makes the interfaces' state match the desired set on the
// current interfaces: opens and closes sockets, installs filters and snapshots,
// joins and leaves groups, and sends the first announcement of every new
// pair.
func (a *Announcer) applyLocked() {
	t := buildTable(a.infos, a.desired)
	byName := map[string]Link{}
	ours := map[[6]byte]struct{}{}
	for _, l := range a.infos {
		byName[l.Name] = l
		if len(l.MAC) == 6 {
			ours[[6]byte(l.MAC)] = struct{}{}
		}
	}
	now := a.clock.Now()

	// Interfaces that answer for nothing, or changed identity, are closed.
	for name, f := range a.ifaces {
		l, ok := byName[name]
		if len(t[name]) == 0 || !ok || l.Index != f.info.Index || !slices.Equal(l.MAC, f.info.MAC) {
			a.closeIfaceLocked(name, f)
		}
	}
	for p := range a.sched {
		if !slices.Contains(t[p.iface], p.ip) {
			delete(a.sched, p)
			a.log.Info("stopped answering for VIP", zap.String("ip", p.ip.String()), zap.String("interface", p.iface))
		}
	}

	for name, ips := range t {
		f := a.ifaces[name]
		if f == nil {
			f = &iface{info: byName[name], groups: map[netip.Addr]int{}}
			a.ifaces[name] = f
		}
		if f.socks == nil {
			if f.retryAt.After(now) {
				continue
			}
			if !a.openIfaceLocked(f) {
				continue
			}
		}
		f.info = byName[name]
		// Answer first, then join groups, then announce: a client that
		// reacts to the announcement with a solicitation gets an answer.
		f.snap.Store(&ifaceView{name: name, mac: f.info.MAC, held: toSet(ips), ours: ours})
		if !slices.Equal(f.filtered, ips) {
			exact, err := f.socks.setFilter(ips)
			if err != nil {
				a.failIfaceLocked(f, err)
				continue
			}
			a.noteFilterLocked(f, exact, len(ips))
			f.filtered = ips
		}
		a.syncGroupsLocked(f, ips)
		var v4, v6 float64
		for _, ip := range ips {
			if ip.Is4() {
				v4++
			} else {
				v6++
			}
			p := pair{ip: ip, iface: name}
			if _, ok := a.sched[p]; ok {
				continue
			}
			a.log.Info("answering for VIP", zap.String("ip", ip.String()), zap.String("interface", name), zap.String("group", groupOf(a.desired, ip)))
			a.announceLocked(f, ip)
			s := &schedule{start: now}
			s.next = a.nextSend(s, now)
			a.sched[p] = s
		}
		a.m.answering.WithLabelValues(name, familyIPv4).Set(v4)
		a.m.answering.WithLabelValues(name, familyIPv6).Set(v6)
	}
	a.kick()
}

// noteFilterLocked logs and exports when f's kernel filter stops or starts
// naming its held VIPs. Answers are right either way; coarse costs the
// speaker every ARP/NDP frame on the link.
func (a *Announcer) noteFilterLocked(f *iface, exact bool, held int) {
	if f.coarse == !exact {
		return
	}
	f.coarse = !exact
	if f.coarse {
		a.m.coarse.WithLabelValues(f.info.Name).Set(1)
		a.log.Warn("the kernel refused the filter naming this interface's VIPs; every ARP and NDP frame on it now reaches the speaker, which answers only for held VIPs (raise net.core.optmem_max to filter in the kernel again)",
			zap.String("interface", f.info.Name), zap.Int("vips", held))
		return
	}
	a.m.coarse.WithLabelValues(f.info.Name).Set(0)
	a.log.Info("the kernel filters this interface's frames by VIP again", zap.String("interface", f.info.Name), zap.Int("vips", held))
}

// nextSend is when s sends next, after its step-th frame was sent at now
// (step 0: only the first, at s.start): the burst step, then the refresh;
// zero when nothing more is sent.
func (a *Announcer) nextSend(s *schedule, now time.Time) time.Time {
	switch {
	case s.step < len(a.burst):
		return s.start.Add(a.burst[s.step])
	case a.refresh > 0:
		return now.Add(a.refresh)
	default:
		return time.Time{}
	}
}

func groupOf(desired []Announcement, ip netip.Addr) string {
	for _, d := range desired {
		for _, x := range d.IPs {
			if x.Unmap().WithZone("") == ip {
				return d.Group
			}
		}
	}
	return ""
}

func toSet(ips []netip.Addr) map[netip.Addr]struct{} {
	s := make(map[netip.Addr]struct{}, len(ips))
	for _, ip := range ips {
		s[ip] = struct{}{}
	}
	return s
}

// syncGroupsLocked joins the solicited-node group of every held IPv6 VIP and
// leaves the groups no held VIP needs. Groups are reference-counted, since
// VIPs that share their last 24 bits share a group.
func (a *Announcer) syncGroupsLocked(f *iface, ips []netip.Addr) {
	want := map[netip.Addr]int{}
	for _, ip := range ips {
		if ip.Is6() {
			g, err := ndp.SolicitedNodeMulticast(ip)
			if err == nil {
				want[g]++
			}
		}
	}
	for g := range f.groups {
		if want[g] == 0 {
			if err := f.socks.leave(g); err != nil {
				a.log.Debug("leaving solicited-node group failed", zap.String("group", g.String()), zap.String("interface", f.info.Name), zap.Error(err))
			}
			delete(f.groups, g)
		}
	}
	for g, n := range want {
		if f.groups[g] == 0 {
			if err := f.socks.join(g); err != nil {
				// Without the group a switch with MLD snooping may not
				// forward solicitations to us; unicast ones still work.
				a.m.socketErrors.WithLabelValues(f.info.Name).Inc()
				a.log.Warn("joining solicited-node group failed", zap.String("group", g.String()), zap.String("interface", f.info.Name), zap.Error(err))
				continue
			}
		}
		f.groups[g] = n
	}
}

// announceLocked sends the gratuitous frames for ip on f.
func (a *Announcer) announceLocked(f *iface, ip netip.Addr) {
	p := f.snap.Load()
	if p == nil {
		return
	}
	if ip.Is4() {
		frames, err := gratuitousARP(p.mac, ip)
		if err != nil {
			return
		}
		for _, fr := range frames {
			if err := f.socks.writeARP(fr); err != nil {
				a.m.socketErrors.WithLabelValues(p.name).Inc()
				a.log.Debug("sending gratuitous ARP failed", zap.String("ip", ip.String()), zap.String("interface", p.name), zap.Error(err))
				continue
			}
			a.m.gratuitous.WithLabelValues(p.name, familyIPv4).Inc()
		}
		return
	}
	fr, err := unsolicitedNA(p, ip)
	if err != nil {
		return
	}
	if err := f.socks.writeNDP(fr); err != nil {
		a.m.socketErrors.WithLabelValues(p.name).Inc()
		a.log.Debug("sending unsolicited neighbor advertisement failed", zap.String("ip", ip.String()), zap.String("interface", p.name), zap.Error(err))
		return
	}
	a.m.gratuitous.WithLabelValues(p.name, familyIPv6).Inc()
}

// openIfaceLocked opens f's sockets and starts its readers.
func (a *Announcer) openIfaceLocked(f *iface) bool {
	c, err := a.sys.open(f.info)
	if err != nil {
		a.failIfaceLocked(f, err)
		return false
	}
	f.socks = c
	f.groups = map[netip.Addr]int{}
	f.filtered = nil
	f.failed.Store(false)
	f.retryAt = time.Time{}
	if f.backoff > 0 {
		a.log.Info("interface sockets open again", zap.String("interface", f.info.Name))
	}
	f.backoff = 0
	a.wg.Add(2)
	go a.read(f, f.info.Name, c, c.readARP, handleARP, familyIPv4)
	go a.read(f, f.info.Name, c, c.readNDP, handleNDP, familyIPv6)
	return true
}

// failIfaceLocked closes f after a socket error and schedules a retry with
// exponential backoff; other interfaces carry on.
func (a *Announcer) failIfaceLocked(f *iface, err error) {
	a.m.socketErrors.WithLabelValues(f.info.Name).Inc()
	if f.backoff == 0 {
		f.backoff = a.retryMin
	} else {
		f.backoff = min(2*f.backoff, a.retryMax)
	}
	f.retryAt = a.clock.Now().Add(f.backoff)
	a.log.Warn("interface sockets failed; retrying", zap.String("interface", f.info.Name), zap.Duration("backoff", f.backoff), zap.Error(err))
	a.closeSocketsLocked(f.info.Name, f)
	f.groups = map[netip.Addr]int{}
	// Pairs on a failed interface get a fresh burst when it comes back.
	a.forgetPairsLocked(f.info.Name)
	a.kick()
}

// closeIfaceLocked stops answering on interface name and forgets it.
func (a *Announcer) closeIfaceLocked(name string, f *iface) {
	a.closeSocketsLocked(name, f)
	delete(a.ifaces, name)
	a.forgetPairsLocked(name)
	a.m.answering.WithLabelValues(name, familyIPv4).Set(0)
	a.m.answering.WithLabelValues(name, familyIPv6).Set(0)
}

// closeSocketsLocked closes f's sockets, if open; its readers see the
// snapshot gone first and end quietly.
func (a *Announcer) closeSocketsLocked(name string, f *iface) {
	if f.socks == nil {
		return
	}
	f.snap.Store(nil)
	if err := f.socks.close(); err != nil {
		a.log.Debug("closing interface sockets", zap.String("interface", name), zap.Error(err))
	}
	f.socks = nil
}

// forgetPairsLocked drops the schedules of every VIP on interface name.
func (a *Announcer) forgetPairsLocked(name string) {
	for p := range a.sched {
		if p.iface == name {
			delete(a.sched, p)
		}
	}
}

// read is one socket's receive loop. It ends when the socket is closed.
func (a *Announcer) read(f *iface, name string, c ifaceSockets, readFn func([]byte) (int, error), handle func(*ifaceView, []byte) decision, family string) {
	defer a.wg.Done()
	buf := make([]byte, maxFrameLen+1)
	requests := a.m.requests.WithLabelValues(name, family)
	replies := a.m.replies.WithLabelValues(name, family)
	claims := a.m.claims.WithLabelValues(name, family)
	malformedC := a.m.malformed.WithLabelValues(name, family)
	for {
		n, err := readFn(buf)
		if err != nil {
			p := f.snap.Load()
			if p == nil || a.isStopping() {
				return // closed on purpose
			}
			// Closed under us by a rescan, or a real error: let the loop
			// decide. Only a socket still current counts as failed.
			a.mu.Lock()
			current := f.socks == c
			a.mu.Unlock()
			if current {
				f.failed.Store(true)
				a.kick()
			}
			return
		}
		p := f.snap.Load()
		if p == nil {
			continue
		}
		d := handle(p, buf[:n])
		switch d.verdict {
		case malformed:
			malformedC.Inc()
		case answered:
			requests.Inc()
			if family == familyIPv4 {
				err = c.writeARP(d.reply)
			} else {
				err = c.writeNDP(d.reply)
			}
			if err != nil {
				a.m.socketErrors.WithLabelValues(name).Inc()
				continue
			}
			replies.Inc()
		case claimed:
			claims.Inc()
			select {
			case a.claims <- d.claim:
			default:
				a.m.claimsLost.Inc()
			}
		}
	}
}

func (a *Announcer) isStopping() bool {
	select {
	case <-a.stop:
		return true
	default:
		return false
	}
}
