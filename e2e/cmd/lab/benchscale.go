package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/leaselb/leaselb/e2e/lab"
)

// The scale benchmark (issue 13): many speakers and thousands of VIPs
// against the lab's real kube-apiserver and etcd. One speaker is the real
// binary on the stand-in node node-a (raw sockets, NDP on the lab link);
// the others are e2e/cmd/scalespeaker processes — the real speaker, its
// informers, election and loop with its own client — whose wire side only
// records what it would announce.

const (
	// scaleLabel marks the Nodes the benchmark's L2Advertisement selects:
	// node-a and the simulated nodes, not node-b and node-c (no speaker).
	scaleLabel = "bench.leaselb.io/scale"
	// scalePoolBase is the first VIP; the pool is the next -vips addresses,
	// on the lab link's 2001:db8::/64 so node-a can answer NDP for them.
	scalePoolBase = "2001:db8::5:0"
	// realNode is the one node running the real speaker binary.
	realNode = "node-a"
	// leaseDuration is the speakers' node lease duration (the default).
	leaseDuration = 2 * time.Second
)

// speakerFlowSchema moves the speakers' Lease requests out of the default
// "service-accounts" schema, whose "workload-low" level gives all speakers
// — one ServiceAccount, so one flow — 6 queues of 50: a hundred speakers
// claiming at once overflow it and get 429s, renewals included. Kubernetes
// does the same for the kubelets' node leases ("system-node-high").
const speakerFlowSchema = `apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata:
  name: leaselb-speaker
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 40
    lendablePercent: 0
    limitResponse:
      type: Queue
      queuing: {queues: 16, handSize: 4, queueLengthLimit: 1000}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata:
  name: leaselb-speaker-leases
spec:
  priorityLevelConfiguration: {name: leaselb-speaker}
  matchingPrecedence: 800
  distinguisherMethod: {type: ByUser}
  rules:
  - subjects:
    - kind: ServiceAccount
      serviceAccount: {name: speaker, namespace: leaselb-system}
    resourceRules:
    - verbs: ["*"]
      apiGroups: [coordination.k8s.io]
      resources: [leases]
      namespaces: [leaselb-system]
`

type scaleOpts struct {
	nodes, vips, perService int
	steady                  time.Duration
	killGroups              int
	roll                    bool
	rollMax                 int
	simNice                 int
	flowSchema              bool
	simLogLevel             string
	speakerEnv              []string
	out                     string
}

func benchScaleCmd(ctx context.Context, root string, args []string) error {
	fs := flag.NewFlagSet("bench-scale", flag.ContinueOnError)
	var o scaleOpts
	fs.IntVar(&o.nodes, "nodes", 100, "speakers in all: node-a runs the real binary, the rest are simulated")
	fs.IntVar(&o.vips, "vips", 5000, "VIPs (IPv6, from "+scalePoolBase+")")
	fs.IntVar(&o.perService, "per-service", 1, "IPs per Service (one group per Service); 1 makes one lease per VIP, the election's worst case")
	fs.DurationVar(&o.steady, "steady", 30*time.Second, "steady-state window")
	fs.IntVar(&o.killGroups, "kill-groups", 50, "the single node killed is the simulated one holding closest to this many groups")
	fs.BoolVar(&o.roll, "roll", true, "run the rolling restart of every speaker")
	fs.IntVar(&o.simNice, "sim-nice", 10, "nice level of the simulated speakers (0: none): on real nodes they would not take the API server's CPU, here 99 processes crowd it out")
	fs.IntVar(&o.rollMax, "roll-max", 0, "restart only the first this many speakers in the rolling restart (0: all); a restart at 100 × 5,000 waits for a full resync")
	fs.Func("speaker-env", "KEY=VALUE added to every speaker's environment, real and simulated (repeat the flag), e.g. GOGC=50", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		o.speakerEnv = append(o.speakerEnv, v)
		return nil
	})
	fs.StringVar(&o.simLogLevel, "sim-log-level", "info", "log level of the simulated speakers (debug shows every Lease write and its error)")
	fs.BoolVar(&o.flowSchema, "flowschema", false, "give the speakers' Lease requests their own API Priority and Fairness level with deep queues (see speakerFlowSchema)")
	fs.StringVar(&o.out, "out", filepath.Join(root, "bin", "bench-scale.md"), "file the table is written to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.nodes < 12 || o.vips < 1 || o.perService < 1 || o.vips%o.perService != 0 {
		return fmt.Errorf("bench-scale: want -nodes >= 12 (10 are killed at once), -vips a positive multiple of -per-service")
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "scalespeaker")); err != nil {
		return errors.New("bench-scale: bin/scalespeaker missing: run `make lab-tools`")
	}
	step(fmt.Sprintf("Starting the lab for bench-scale (prefix lls-): %d speakers (1 real, %d simulated), %d VIPs", o.nodes, o.nodes-1, o.vips))
	l, err := lab.Start(ctx, lab.Options{Prefix: "lls-", Root: root, Logf: logf, NoLeaselb: true,
		APIServerArgs: []string{"--profiling=true"}, SpeakerEnv: o.speakerEnv})
	if err != nil {
		return err
	}
	f := &fleet{l: l, root: root, state: filepath.Dir(l.LogDir()), procs: map[string]*lab.Proc{}, nice: o.simNice, simLogLevel: o.simLogLevel, env: o.speakerEnv}
	defer func() {
		step("Tearing the lab down")
		f.killAll()
		l.Close()
	}()
	r, err := f.run(ctx, o)
	if r != nil {
		text := r.render()
		fmt.Print("\n" + text)
		if werr := os.WriteFile(o.out, []byte(text), 0o644); werr != nil {
			return errors.Join(err, werr)
		}
		fmt.Printf("\nwritten to %s\n", o.out)
	}
	return err
}

// A fleet is the benchmark's speakers and what watches them.
type fleet struct {
	l           *lab.Lab
	root        string
	state       string
	names       []string // every speaker's node, realNode first
	nice        int      // nice level of the simulated speakers
	simLogLevel string   // --log-level of the simulated speakers
	env         []string // added to the simulated speakers' environment

	mu    sync.Mutex
	procs map[string]*lab.Proc

	tr     *tracker
	groups []string // every group's lease name
	ipOf   map[string]string
}

func (f *fleet) readyFile(node string) string { return filepath.Join(f.state, "ready", node) }
func (f *fleet) profDir() string              { return filepath.Join(f.state, "prof") }

func simName(i int) string { return fmt.Sprintf("sim-%03d", i) }

func (f *fleet) run(ctx context.Context, o scaleOpts) (*scaleReport, error) {
	l := f.l
	r := &scaleReport{opts: o, started: time.Now(), load: loadavg()}
	for _, d := range []string{filepath.Join(f.state, "ready"), f.profDir()} {
		_ = os.RemoveAll(d)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// The kube-proxy stand-ins would put 5,000 VIPs on every node's lo and
	// add their own reads; nothing here needs them.
	for _, n := range l.Nodes {
		if p := l.Proc("proxy-" + n.Name); p != nil {
			p.Stop(2 * time.Second)
		}
	}
	f.names = []string{realNode}
	for i := 1; i < o.nodes; i++ {
		f.names = append(f.names, simName(i))
	}
	admin, err := fastClient(l.Config)
	if err != nil {
		return nil, err
	}
	step(fmt.Sprintf("Nodes, pool, L2Advertisement, %d Services × %d IPv6 VIPs (status written directly, no controller)", o.vips/o.perService, o.perService))
	if err := f.setup(ctx, admin, o); err != nil {
		return nil, err
	}
	f.tr = newTracker()
	if err := f.tr.start(ctx, l.Client); err != nil {
		return nil, err
	}

	step("Cold start: every speaker started at once")
	if err := f.coldStart(ctx, o, r); err != nil {
		return r, err
	}
	step(fmt.Sprintf("Steady state for %s", o.steady))
	if err := f.steady(ctx, o, r); err != nil {
		return r, err
	}
	r.wireBefore = f.wireCheck(ctx)
	logf("wire: %s", r.wireBefore)

	step("Power cut of one node holding ~" + fmt.Sprint(o.killGroups) + " groups")
	held := f.tr.perNode(f.names)
	victim, best := "", -1
	for _, n := range f.names[1:] {
		if d := abs(held[n] - o.killGroups); best < 0 || d < best {
			victim, best = n, d
		}
	}
	if r.kill1, err = f.kill(ctx, []string{victim}); err != nil {
		return r, err
	}
	step("Power cut of 10 nodes at once")
	var ten []string
	for _, n := range f.names[1:] {
		if n != victim && len(ten) < 10 {
			ten = append(ten, n)
		}
	}
	if r.kill10, err = f.kill(ctx, ten); err != nil {
		return r, err
	}
	if o.roll {
		which := fmt.Sprintf("all %d", len(f.names))
		if o.rollMax > 0 && o.rollMax < len(f.names) {
			which = fmt.Sprintf("the first %d of %d", o.rollMax, len(f.names))
		}
		step(fmt.Sprintf("Rolling restart of %s speakers, one at a time (SIGTERM, start, wait ready)", which))
		if err := f.roll(ctx, r); err != nil {
			return r, err
		}
		r.wireAfter = f.wireCheck(ctx)
		logf("wire: %s", r.wireAfter)
	}
	r.finalSpread = f.spread()
	return r, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// fastClient is an admin client without the lab's client-side rate limit,
// for the setup's thousands of writes.
func fastClient(c *rest.Config) (kubernetes.Interface, error) {
	cfg := rest.CopyConfig(c)
	cfg.QPS, cfg.Burst = 2000, 4000
	return kubernetes.NewForConfig(cfg)
}

// setup labels node-a, registers the simulated Nodes, applies the pool and
// an advertisement selecting the benchmark's nodes, and creates the
// Services with their ingress IPs.
func (f *fleet) setup(ctx context.Context, c kubernetes.Interface, o scaleOpts) error {
	last, ok := nthAddr(netip.MustParseAddr(scalePoolBase), uint64(o.vips-1))
	if !ok {
		return errors.New("bench-scale: -vips too large")
	}
	pool := fmt.Sprintf(`apiVersion: leaselb.io/v1alpha1
kind: IPAddressPool
metadata:
  name: scale-pool
  namespace: leaselb-system
spec:
  addresses:
  - %s-%s
  autoAssign: false
---
apiVersion: leaselb.io/v1alpha1
kind: L2Advertisement
metadata:
  name: scale-l2
  namespace: leaselb-system
spec:
  ipAddressPools: [scale-pool]
  nodeSelectors:
  - matchLabels:
      %s: "true"
`, scalePoolBase, last, scaleLabel)
	if err := f.l.Apply(ctx, pool); err != nil {
		return err
	}
	if o.flowSchema {
		if err := f.l.Apply(ctx, speakerFlowSchema); err != nil {
			return err
		}
	}
	if _, err := f.l.Kubectl(ctx, "label", "node", realNode, scaleLabel+"=true"); err != nil {
		return err
	}
	err := parallel(ctx, 16, len(f.names)-1, func(i int) error {
		return registerSimNode(ctx, c, f.names[i+1])
	})
	if err != nil {
		return err
	}
	t0 := time.Now()
	services := o.vips / o.perService
	f.ipOf = map[string]string{}
	f.groups = make([]string, services)
	var mu sync.Mutex
	err = parallel(ctx, 32, services, func(i int) error {
		var ips []string
		for k := 0; k < o.perService; k++ {
			a, _ := nthAddr(netip.MustParseAddr(scalePoolBase), uint64(i*o.perService+k))
			ips = append(ips, a.String())
		}
		g := lab.GroupName(ips[0])
		mu.Lock()
		f.groups[i], f.ipOf[g] = g, ips[0]
		mu.Unlock()
		return createScaleService(ctx, c, fmt.Sprintf("scale-%05d", i), ips)
	})
	if err != nil {
		return err
	}
	logf("%d Nodes and %d Services with %d VIPs created in %s", len(f.names)-1, services, o.vips, time.Since(t0).Round(time.Millisecond))
	return nil
}

func registerSimNode(ctx context.Context, c kubernetes.Interface, name string) error {
	n, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: name, Labels: map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", scaleLabel: "true"},
	}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create Node %s: %w", name, err)
	}
	now := metav1.Now()
	n.Status.Conditions = []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "simulated node", LastHeartbeatTime: now, LastTransitionTime: now},
		{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "LabNetwork", LastHeartbeatTime: now, LastTransitionTime: now},
	}
	_, err = c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	return err
}

// createScaleService creates a selector-less IPv6 LoadBalancer Service and
// writes its ingress IPs, as the controller would. No NodePorts: 5,000
// Services would exhaust the NodePort range.
func createScaleService(ctx context.Context, c kubernetes.Interface, name string, ips []string) error {
	single := corev1.IPFamilyPolicySingleStack
	no := false
	svc, err := c.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, IPFamilyPolicy: &single, IPFamilies: []corev1.IPFamily{corev1.IPv6Protocol},
			AllocateLoadBalancerNodePorts: &no,
			Ports:                         []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 8080}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create Service %s: %w", name, err)
	}
	for _, ip := range ips {
		svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	if _, err := c.CoreV1().Services("default").UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("status of Service %s: %w", name, err)
	}
	return nil
}

// parallel runs fn(0..n-1) on width goroutines and returns the first error.
func parallel(ctx context.Context, width, n int, fn func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	errs := make(chan error, width)
	var wg sync.WaitGroup
	for w := 0; w < width; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return ctx.Err()
	}
}

// start starts node's speaker: the real binary for realNode, else a
// simulated one. extra are added to a simulated speaker's flags.
func (f *fleet) start(node string, extra ...string) error {
	_ = os.Remove(f.readyFile(node))
	if node == realNode {
		return f.l.StartSpeaker(node)
	}
	id := 0
	_, _ = fmt.Sscanf(node, "sim-%d", &id)
	args := append([]string{"--kubeconfig", f.l.ComponentKubeconfig("speaker"), "--node-name", node,
		"--mac", fmt.Sprintf("02:5c:00:00:%02x:%02x", id>>8, id&0xff),
		"--ready-file", f.readyFile(node), "--profile-dir", f.profDir(), "--log-level", f.simLogLevel}, extra...)
	bin := f.l.Bin("scalespeaker")
	if f.nice > 0 {
		// nice execs the speaker: same pid, every thread niced.
		args = append([]string{"-n", fmt.Sprint(f.nice), bin}, args...)
		bin = "nice"
	}
	p, err := f.l.Spawn(node, f.l.Hosts["client"].NS, append([]string{"POD_NAMESPACE=" + lab.Namespace}, f.env...), bin, args...)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.procs[node] = p
	f.mu.Unlock()
	return nil
}

// proc is node's speaker process, or nil.
func (f *fleet) proc(node string) *lab.Proc {
	if node == realNode {
		return f.l.Proc("speaker-" + node)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.procs[node]
}

// killAll SIGKILLs every simulated speaker at once (Close would stop them
// one by one).
func (f *fleet) killAll() {
	f.mu.Lock()
	procs := slices.Collect(func(yield func(*lab.Proc) bool) {
		for _, p := range f.procs {
			if !yield(p) {
				return
			}
		}
	})
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.Kill() }()
	}
	wg.Wait()
}

// ready reports whether node's speaker is ready: the simulated ones create
// their ready file, the real one answers /readyz.
func (f *fleet) ready(ctx context.Context) func(node string) bool {
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: lab.DialerIn(f.l.Hosts["client"].NS)}}
	return func(node string) bool {
		if node != realNode {
			_, err := os.Stat(f.readyFile(node))
			return err == nil
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+f.l.Hosts[realNode].IPv4.String()+":7475/readyz", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}

// notReady counts the speakers not ready now.
func (f *fleet) notReady(ctx context.Context) int {
	ready, n := f.ready(ctx), 0
	for _, node := range f.names {
		if !ready(node) {
			n++
		}
	}
	return n
}

func (f *fleet) waitReady(ctx context.Context, nodes []string, timeout time.Duration) error {
	ready := f.ready(ctx)
	pending := slices.Clone(nodes)
	return lab.Eventually(ctx, timeout, 50*time.Millisecond, func() (bool, string) {
		pending = slices.DeleteFunc(pending, ready)
		return len(pending) == 0, fmt.Sprintf("not ready: %v", pending)
	})
}

// apiState scrapes the API server's metrics.
func (f *fleet) apiState(ctx context.Context) (apiCounts, error) { return apiServerCounts(ctx, f.l) }

// requestCounts sums the simulated speakers' own request counts (SIGUSR2
// makes each write them).
func (f *fleet) requestCounts(ctx context.Context) map[string]int {
	var nodes []string
	for _, n := range f.names[1:] {
		_ = os.Remove(filepath.Join(f.profDir(), n+".requests"))
		if p := f.proc(n); p != nil {
			p.Signal(syscall.SIGUSR2)
			nodes = append(nodes, n)
		}
	}
	sum := map[string]int{}
	pending := slices.Clone(nodes)
	_ = lab.Eventually(ctx, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
		pending = slices.DeleteFunc(pending, func(n string) bool {
			data, err := os.ReadFile(filepath.Join(f.profDir(), n+".requests"))
			if err != nil {
				return false
			}
			m, err := parseRequestCounts(string(data))
			if err != nil {
				return false
			}
			for k, v := range m {
				sum[k] += v
			}
			return true
		})
		return len(pending) == 0, fmt.Sprintf("no request counts from %v", pending)
	})
	if len(pending) > 0 {
		logf("request counts missing from %v", pending)
	}
	return sum
}

// cpuOf is a process's user+system CPU seconds so far (0 if gone).
func cpuOf(p *lab.Proc) float64 {
	if p == nil || p.Exited() {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		return 0
	}
	s, _ := procStat(string(data))
	return s
}

func rssOf(p *lab.Proc) float64 {
	if p == nil || p.Exited() {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0
	}
	m, _ := procRSS(string(data))
	return m
}

// apiserverProfile takes a CPU profile of the API server for d.
func (f *fleet) apiserverProfile(ctx context.Context, d time.Duration, name string) string {
	data, err := f.l.Client.Discovery().RESTClient().Get().AbsPath("/debug/pprof/profile").
		Param("seconds", fmt.Sprint(int(d.Seconds()))).DoRaw(ctx)
	if err != nil {
		logf("API server profile: %v", err)
		return ""
	}
	path := filepath.Join(f.profDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return ""
	}
	return path
}

func (f *fleet) coldStart(ctx context.Context, o scaleOpts, r *scaleReport) error {
	m0, err := f.apiState(ctx)
	if err != nil {
		return err
	}
	api := f.l.Proc("kube-apiserver")
	cpu0 := cpuOf(api)
	profCh := make(chan string, 1)
	go func() { profCh <- f.apiserverProfile(ctx, 15*time.Second, "apiserver-coldstart.cpu") }()
	t0 := time.Now()
	for _, n := range f.names {
		var extra []string
		if n == simName(1) {
			extra = []string{"--cpu-profile-start", "15s"}
		}
		if err := f.start(n, extra...); err != nil {
			return err
		}
	}
	r.spawned = time.Since(t0)
	readyErr := make(chan error, 1)
	go func() {
		err := f.waitReady(ctx, f.names, 5*time.Minute)
		r.allReady = time.Since(t0)
		readyErr <- err
	}()
	err = lab.Eventually(ctx, 10*time.Minute, 20*time.Millisecond, func() (bool, string) {
		n := f.tr.heldCount(f.groups)
		return n == len(f.groups), fmt.Sprintf("%d/%d groups held", n, len(f.groups))
	})
	if err != nil {
		r.coldErr = fmt.Sprintf("%d of %d groups held %s after the start; %d of %d speakers ready",
			f.tr.heldCount(f.groups), len(f.groups), time.Since(t0).Round(time.Second), len(f.names)-f.notReady(ctx), len(f.names))
		return err
	}
	times, _ := f.tr.firstHeld(f.groups, nil, t0)
	r.coldAll = slices.Max(times)
	r.coldFirst = slices.Min(times)
	r.coldP50 = nearestRank(times, 0.5)
	if err := <-readyErr; err != nil {
		return err
	}
	m1, err := f.apiState(ctx)
	if err != nil {
		return err
	}
	d := m1.sub(m0)
	r.coldWrites, r.coldReads, r.coldThrottled = total(d.writes), total(d.reads), d.throttled
	r.coldWriteTop, r.coldReadTop = topKeys(d.writes, 1, 4), topKeys(d.reads, 1, 4)
	r.coldAPICPU = cpuOf(api) - cpu0
	r.coldWindow = time.Since(t0)
	r.coldSpread = f.spread()
	r.profiles = append(r.profiles, profile{"API server CPU, first 15 s of the cold start", <-profCh, f.l.Bin("kube-apiserver")},
		profile{simName(1) + " CPU, first 15 s of its life (cold start)", filepath.Join(f.profDir(), simName(1)+"-start.cpu"), f.l.Bin("scalespeaker")})
	logf("cold start: all %d groups held %s after the first speaker started (first claim %s, p50 %s); all speakers ready after %s; spread %v",
		len(f.groups), r.coldAll.Round(time.Millisecond), r.coldFirst.Round(time.Millisecond), r.coldP50.Round(time.Millisecond), r.allReady.Round(time.Millisecond), r.coldSpread)
	return nil
}

// spread is groups per speaker (min/median/max, zeros counted).
func (f *fleet) spread() [3]int {
	held := f.tr.perNode(f.names)
	var counts []int
	for _, n := range f.names {
		counts = append(counts, held[n])
	}
	lo, med, hi := spread(counts)
	return [3]int{lo, med, hi}
}

func (f *fleet) steady(ctx context.Context, o scaleOpts, r *scaleReport) error {
	time.Sleep(10 * time.Second) // the claim burst and its Events end
	held := f.tr.perNode(f.names)
	top := ""
	for _, n := range f.names[1:] {
		if top == "" || held[n] > held[top] {
			top = n
		}
	}
	m0, err := f.apiState(ctx)
	if err != nil {
		return err
	}
	api, etcd := f.l.Proc("kube-apiserver"), f.l.Proc("etcd")
	apiCPU0, etcdCPU0 := cpuOf(api), cpuOf(etcd)
	cpu0 := map[string]float64{}
	for _, n := range f.names {
		cpu0[n] = cpuOf(f.proc(n))
	}
	ev0 := f.tr.eventCount()
	lw0 := f.tr.leaseWrites()
	req0 := f.requestCounts(ctx)
	t0 := time.Now()
	if p := f.proc(top); p != nil {
		p.Signal(syscall.SIGUSR1) // heap + 10 s CPU profile
	}
	profCh := make(chan string, 1)
	go func() { profCh <- f.apiserverProfile(ctx, 10*time.Second, "apiserver-steady.cpu") }()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(o.steady):
	}
	m1, err := f.apiState(ctx)
	if err != nil {
		return err
	}
	secs := time.Since(t0).Seconds()
	ev1 := f.tr.eventCount()
	lw1 := f.tr.leaseWrites()
	req1 := f.requestCounts(ctx)
	d := m1.sub(m0)
	s := &r.steadyRes
	s.secs = secs
	s.simRequests = map[string]float64{}
	s.writes, s.leaseWrites, s.reads = total(d.writes)/secs, d.writes["leases"]/secs, total(d.reads)/secs
	s.throttled = d.throttled / secs
	s.writeTop, s.readTop = topKeys(d.writes, secs, 4), topKeys(d.reads, secs, 4)
	s.leaseEvents = d.watchEvents["leases"] / secs
	s.trackerEvents = float64(ev1-ev0) / secs
	s.apiCPU = (cpuOf(api) - apiCPU0) / secs * 100
	s.etcdCPU = (cpuOf(etcd) - etcdCPU0) / secs * 100
	for k, v := range req1 {
		s.simRequests[k] = float64(v-req0[k]) / secs
	}
	var vipWrites int
	for name, c := range lw1 {
		if strings.HasPrefix(name, "vip-") {
			vipWrites += c - lw0[name]
		}
	}
	s.vipLeaseWrites = float64(vipWrites) / secs
	for _, n := range f.names {
		renew := float64(lw1["node-"+n]-lw0["node-"+n]) / secs
		if held[n] > 0 {
			s.holding++
			s.holdingRenew = append(s.holdingRenew, renew)
		} else {
			s.idleRenew = append(s.idleRenew, renew)
		}
		p := f.proc(n)
		cpu := (cpuOf(p) - cpu0[n]) / secs * 100
		rss := rssOf(p)
		if n == realNode {
			s.realCPU, s.realRSS = cpu, rss
			continue
		}
		s.simCPU = append(s.simCPU, cpu)
		s.simRSS = append(s.simRSS, rss)
	}
	r.profiles = append(r.profiles,
		profile{"API server CPU, 10 s of steady state", <-profCh, f.l.Bin("kube-apiserver")},
		profile{top + " (holds the most groups) CPU, 10 s of steady state", filepath.Join(f.profDir(), top+"-1.cpu"), f.l.Bin("scalespeaker")},
		profile{top + " heap (in use) in steady state", filepath.Join(f.profDir(), top+"-1.heap"), f.l.Bin("scalespeaker")})
	logf("steady: %.1f writes/s (%.1f to Leases; %s), %.2f reads/s (%s); %.0f Lease watch events/s sent in all, %.0f/s to one watcher; API server CPU %.0f%%, etcd %.0f%%",
		s.writes, s.leaseWrites, s.writeTop, s.reads, s.readTop, s.leaseEvents, s.trackerEvents, s.apiCPU, s.etcdCPU)
	return nil
}

// kill cuts the power of nodes (SIGKILL, nothing released), waits until
// every group they held has another holder, and starts them again.
func (f *fleet) kill(ctx context.Context, nodes []string) (killResult, error) {
	res := killResult{nodes: nodes}
	held := f.tr.heldBy(nodes)
	res.groups = len(held)
	m0, err := f.apiState(ctx)
	if err != nil {
		return res, err
	}
	var wg sync.WaitGroup
	t0 := time.Now()
	for _, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); f.proc(n).Kill() }()
	}
	wg.Wait()
	err = lab.Eventually(ctx, 5*time.Minute, 20*time.Millisecond, func() (bool, string) {
		_, ok := f.tr.firstHeld(held, nodes, t0)
		return ok, "groups of the killed nodes still unheld"
	})
	if err != nil {
		return res, err
	}
	times, _ := f.tr.firstHeld(held, nodes, t0)
	m1, err := f.apiState(ctx)
	if err != nil {
		return res, err
	}
	res.window = time.Since(t0)
	if len(times) > 0 {
		res.all, res.first, res.p50 = slices.Max(times), slices.Min(times), nearestRank(times, 0.5)
	}
	d := m1.sub(m0)
	res.writes = total(d.writes)
	res.writeTop = topKeys(d.writes, 1, 3)
	res.throttled = d.throttled
	logf("killed %v holding %d groups: all held again after %s (first %s, p50 %s); %.0f writes in %s",
		nodes, res.groups, res.all.Round(time.Millisecond), res.first.Round(time.Millisecond), res.p50.Round(time.Millisecond),
		res.writes, res.window.Round(time.Millisecond))
	for _, n := range nodes {
		if err := f.start(n); err != nil {
			return res, err
		}
	}
	return res, f.waitReady(ctx, nodes, 2*time.Minute)
}

func (f *fleet) roll(ctx context.Context, r *scaleReport) error {
	m0, err := f.apiState(ctx)
	if err != nil {
		return err
	}
	c0 := f.tr.changeCount()
	t0 := time.Now()
	var gaps []time.Duration
	names := f.names
	if o := r.opts.rollMax; o > 0 && o < len(names) {
		names = names[:o]
	}
	r.rollRes.restarted = len(names)
	for _, n := range names {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		held := f.tr.heldBy([]string{n})
		at := time.Now()
		f.proc(n).Stop(10 * time.Second)
		if err := f.start(n); err != nil {
			return err
		}
		if err := f.waitReady(ctx, []string{n}, 2*time.Minute); err != nil {
			return err
		}
		// Every group it held should have a new holder before the next
		// stop, or the gaps would overlap. A group whose release failed
		// still names the node, which adopts it again once restarted: it
		// is counted apart (its gap ran from SIGTERM to the restart).
		_ = lab.Eventually(ctx, 15*time.Second, 20*time.Millisecond, func() (bool, string) {
			_, ok := f.tr.firstHeld(held, []string{n}, at)
			return ok, ""
		})
		times, ok := f.tr.firstHeld(held, []string{n}, at)
		gaps = append(gaps, times...)
		if !ok {
			kept := len(held) - len(times)
			r.rollRes.kept += kept
			logf("%s: %d of its %d groups not taken by another node within 15 s (release failed; adopted again after its restart)", n, kept, len(held))
		}
	}
	m1, err := f.apiState(ctx)
	if err != nil {
		return err
	}
	rr := &r.rollRes
	rr.took = time.Since(t0)
	rr.claims, rr.releases = f.tr.claimsSince(c0)
	rr.moved = len(gaps)
	if len(gaps) > 0 {
		rr.longest, rr.p99, rr.p50 = slices.Max(gaps), nearestRank(gaps, 0.99), nearestRank(gaps, 0.5)
	}
	d := m1.sub(m0)
	rr.writes = total(d.writes)
	rr.writeTop = topKeys(d.writes, 1, 3)
	rr.throttled = d.throttled
	logf("rolling restart: %s; %d claims, %d releases; groups without a holder: longest %s, p99 %s, p50 %s; %.0f writes",
		rr.took.Round(time.Second), rr.claims, rr.releases, rr.longest.Round(time.Millisecond), rr.p99.Round(time.Millisecond), rr.p50.Round(time.Millisecond), rr.writes)
	return nil
}

// wireCheck asks, with NDP from the client, who answers for a VIP node-a
// holds (its MAC only) and for one a simulated node holds (nobody).
func (f *fleet) wireCheck(ctx context.Context) string {
	held := f.tr.heldBy([]string{realNode})
	if len(held) == 0 {
		return fmt.Sprintf("%s holds no group: nothing to check", realNode)
	}
	want := f.l.Hosts[realNode].MAC
	ip := f.ipOf[held[0]]
	macs, _ := f.l.NDPMACs(ctx, ip)
	verdict := "OK"
	if len(macs) != 1 || !strings.EqualFold(macs[0], want) {
		verdict = "MISMATCH"
	}
	other := ""
	for _, g := range f.groups {
		if h := f.tr.holderOf(g); h != "" && h != realNode {
			other = g
			break
		}
	}
	out := fmt.Sprintf("%s: %s holds %d groups; NDP for %s (its lease names %s) answered by %v (want %s only)",
		verdict, realNode, len(held), ip, realNode, macs, want)
	if other != "" {
		oip := f.ipOf[other]
		omacs, _ := f.l.NDPMACs(ctx, oip)
		if len(omacs) != 0 {
			out = strings.Replace(out, "OK:", "MISMATCH:", 1)
		}
		out += fmt.Sprintf("; NDP for %s (held by %s, simulated wire) answered by %v (want none)", oip, f.tr.holderOf(other), omacs)
	}
	return out
}

// tracker follows the Leases through its own watch, as a speaker does, and
// keeps every holder change of the VIP leases with the time it saw it.
type tracker struct {
	mu      sync.Mutex
	holder  map[string]string
	events  int
	changes []holderChange
	// writes counts the changes seen per lease (node leases: renewals).
	writes map[string]int
}

type holderChange struct {
	at       time.Time
	group    string
	from, to string
}

func newTracker() *tracker { return &tracker{holder: map[string]string{}, writes: map[string]int{}} }

func (t *tracker) start(ctx context.Context, c kubernetes.Interface) error {
	fac := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(lab.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = "leaselb.io/role" }))
	inf := fac.Coordination().V1().Leases().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { t.observe(o, false) },
		UpdateFunc: func(_, o any) { t.observe(o, false) },
		DeleteFunc: func(o any) { t.observe(o, true) },
	})
	if err != nil {
		return err
	}
	fac.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return errors.New("bench-scale: the Lease watch never synced")
	}
	return nil
}

func (t *tracker) observe(o any, deleted bool) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	le, ok := o.(*coordinationv1.Lease)
	if !ok {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events++
	t.writes[le.Name]++
	if le.Labels["leaselb.io/role"] != "vip" {
		return
	}
	h := ""
	if le.Spec.HolderIdentity != nil && !deleted {
		h = *le.Spec.HolderIdentity
	}
	if old := t.holder[le.Name]; old != h {
		t.changes = append(t.changes, holderChange{at: now, group: le.Name, from: old, to: h})
		t.holder[le.Name] = h
	}
}

// leaseWrites is a copy of the per-lease change counts.
func (t *tracker) leaseWrites() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.writes)
}

func (t *tracker) eventCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.events
}

func (t *tracker) changeCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.changes)
}

func (t *tracker) holderOf(g string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.holder[g]
}

func (t *tracker) heldCount(groups []string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, g := range groups {
		if t.holder[g] != "" {
			n++
		}
	}
	return n
}

// perNode counts the groups each node holds.
func (t *tracker) perNode(nodes []string) map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := map[string]int{}
	for _, n := range nodes {
		m[n] = 0
	}
	for _, h := range t.holder {
		if h != "" {
			m[h]++
		}
	}
	return m
}

// heldBy lists the groups the nodes hold, sorted.
func (t *tracker) heldBy(nodes []string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for g, h := range t.holder {
		if h != "" && slices.Contains(nodes, h) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// firstHeld returns, for each group, how long after since it was first
// seen held by a node not in not; ok is false while some group is not.
func (t *tracker) firstHeld(groups []string, not []string, since time.Time) (times []time.Duration, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	want := map[string]bool{}
	for _, g := range groups {
		want[g] = true
	}
	for _, c := range t.changes {
		if !want[c.group] || c.at.Before(since) || c.to == "" || slices.Contains(not, c.to) {
			continue
		}
		times = append(times, c.at.Sub(since))
		delete(want, c.group)
	}
	return times, len(want) == 0
}

// claimsSince counts holder changes after the first n: to a node (claims)
// and to nobody (releases).
func (t *tracker) claimsSince(n int) (claims, releases int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.changes[n:] {
		if c.to == "" {
			releases++
		} else {
			claims++
		}
	}
	return claims, releases
}

type killResult struct {
	nodes           []string
	groups          int
	all, first, p50 time.Duration
	window          time.Duration
	writes          float64
	writeTop        string
	throttled       float64
}

type steadyResult struct {
	// simRequests are the simulated speakers' own requests per second, in
	// all, by kind (read, watch, write).
	simRequests                map[string]float64
	vipLeaseWrites             float64
	holdingRenew, idleRenew    []float64
	secs                       float64
	writes, leaseWrites, reads float64
	writeTop, readTop          string
	leaseEvents, trackerEvents float64
	apiCPU, etcdCPU            float64
	throttled                  float64
	holding                    int
	simCPU, simRSS             []float64
	realCPU, realRSS           float64
}

type rollResult struct {
	took              time.Duration
	restarted         int
	claims, releases  int
	kept              int
	throttled         float64
	moved             int
	longest, p99, p50 time.Duration
	writes            float64
	writeTop          string
}

type profile struct{ what, path, bin string }

type scaleReport struct {
	opts                        scaleOpts
	load                        string // /proc/loadavg at the start
	started                     time.Time
	spawned, allReady           time.Duration
	coldAll, coldFirst, coldP50 time.Duration
	coldWindow                  time.Duration
	coldErr                     string
	coldWrites, coldReads       float64
	coldThrottled               float64
	coldWriteTop, coldReadTop   string
	coldAPICPU                  float64
	coldSpread, finalSpread     [3]int
	steadyRes                   steadyResult
	kill1, kill10               killResult
	rollRes                     rollResult
	wireBefore, wireAfter       string
	profiles                    []profile
}

func floatSpread(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return fmt.Sprintf("%.1f / %.1f / %.1f", s[0], s[(len(s)-1)/2], s[len(s)-1])
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func (r *scaleReport) render() string {
	var b strings.Builder
	o := r.opts
	host, _ := os.Hostname()
	services := o.vips / o.perService
	n := o.nodes
	fmt.Fprintf(&b, "# leaselb scale benchmark\n\n%s on %s: %d speakers against the lab's real kube-apiserver and etcd, all on one shared 2-core VM. "+
		"%s runs the real `leaselb speaker` (raw sockets, NDP on the lab link); the other %d are `scalespeaker` processes — the real speaker "+
		"(informers, election, loop; own client and node lease) with a **simulated wire side** that records what it would announce and answers nothing. "+
		"%d VIPs as %d IPv6 Services × %d IP (%d groups, one VIP lease each), `status.loadBalancer.ingress` written by the benchmark (no controller). Speaker defaults: node lease renewed every 500 ms, duration 2 s.\n\n",
		r.started.UTC().Format(time.RFC3339), host, n, realNode, n-1, o.vips, services, o.perService, services)
	if len(o.speakerEnv) > 0 {
		fmt.Fprintf(&b, "Every speaker's environment adds `%s`.\n\n", strings.Join(o.speakerEnv, " "))
	}
	if o.simNice > 0 {
		fmt.Fprintf(&b, "The simulated speakers run at nice %d, so that the API server and etcd, which on a real cluster do not share their cores with a hundred speakers, get the CPU they ask for first; the speakers' CPU figures are still what each used.\n\n", o.simNice)
	}
	if r.load != "" {
		fmt.Fprintf(&b, "Machine load (`/proc/loadavg`) at the start / end of the run: %s / %s.\n\n", r.load, loadavg())
	}
	if o.flowSchema {
		b.WriteString("API Priority and Fairness: the speakers' Lease requests in their own priority level (`-flowschema`: 40 shares, 16 queues of 1,000, hand size 4).\n\n")
	} else {
		b.WriteString("API Priority and Fairness: the API server's defaults (the speakers' ServiceAccount falls in `service-accounts` → `workload-low`: one flow, 6 queues of 50).\n\n")
	}
	b.WriteString("| workload | measure | measured | goal |\n|---|---|---|---|\n")
	row := func(w, m, v, g string) { fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", w, m, v, g) }
	if r.coldErr != "" {
		row("cold start", "all speakers started at once → every group held", "not reached: "+r.coldErr, "≤ 10 s: "+met(false))
	} else {
		cs := r.coldSpread
		row("cold start", "all speakers started at once → every group held", secs(r.coldAll), "≤ 10 s: "+met(r.coldAll > 0 && r.coldAll <= 10*time.Second))
		row("", "first claim / half the groups held", secs(r.coldFirst)+" / "+secs(r.coldP50), "")
		row("", "every speaker ready (caches synced, node lease renewed)", secs(r.allReady), "")
		row("", "groups per speaker (min / median / max)", fmt.Sprintf("%d / %d / %d", cs[0], cs[1], cs[2]), "")
		row("", fmt.Sprintf("API requests in the first %s", r.coldWindow.Round(time.Second)),
			fmt.Sprintf("%.0f writes (%s), %.0f reads (%s), %.0f answered 429", r.coldWrites, r.coldWriteTop, r.coldReads, r.coldReadTop, r.coldThrottled), "")
		row("", "API server CPU over that window", fmt.Sprintf("%.0f s of CPU (%.0f%% of one core)", r.coldAPICPU, r.coldAPICPU/r.coldWindow.Seconds()*100), "")
	}
	s := r.steadyRes
	if s.secs > 0 {
		// The goal's figure: every Lease write but the idle nodes'
		// renewals, per holding node (renewals, claims, releases, adoptions
		// and failed attempts alike).
		perHolding := 0.0
		if s.holding > 0 {
			idle := 0.0
			for _, v := range s.idleRenew {
				idle += v
			}
			perHolding = (s.leaseWrites - idle) / float64(s.holding)
		}
		row(fmt.Sprintf("steady (%.0f s)", s.secs), "API writes/s: all / to Leases; answered 429/s", fmt.Sprintf("%.1f / %.1f (%s); %.1f", s.writes, s.leaseWrites, s.writeTop, s.throttled), "")
		// One renewal more than 2/s can fall into the window by its edges.
		row("", fmt.Sprintf("Lease writes/s per node / per holding node, idle renewals left out (%d of %d hold)", s.holding, n),
			fmt.Sprintf("%.2f / %.2f", s.leaseWrites/float64(n), perHolding), "≤ 2/s per holding node: "+met(perHolding <= 2+1/s.secs))
		row("", "node-lease renewals/s of one holding node / one idle node (min / median / max, seen by the watch)",
			floatSpread(s.holdingRenew)+" / "+floatSpread(s.idleRenew), "")
		row("", "VIP lease writes/s (seen by the watch)", fmt.Sprintf("%.2f", s.vipLeaseWrites), "")
		row("", "API reads/s at the API server, every client (GET + LIST; watches not counted)", fmt.Sprintf("%.2f (%s)", s.reads, s.readTop), "")
		row("", fmt.Sprintf("the %d simulated speakers' own requests/s: reads (GET, LIST) / new watches / writes", n-1),
			fmt.Sprintf("%.2f / %.2f / %.2f", s.simRequests["read"], s.simRequests["watch"], s.simRequests["write"]),
			"no polling reads: "+met(s.simRequests["read"] == 0))
		row("", "Lease watch events/s: sent by the API server in all / delivered to one speaker",
			fmt.Sprintf("%.0f / %.1f", s.leaseEvents, s.trackerEvents), "")
		row("", "API server CPU / etcd CPU (share of one core)", fmt.Sprintf("%.0f %% / %.0f %%", s.apiCPU, s.etcdCPU), "")
		row("", "simulated speaker CPU % (min / median / max)", floatSpread(s.simCPU), "")
		row("", "simulated speaker RSS MiB (min / median / max)", floatSpread(s.simRSS),
			"≤ 64 MiB: "+met(len(s.simRSS) > 0 && slices.Max(s.simRSS) <= 64))
		row("", "real speaker ("+realNode+") CPU / RSS", fmt.Sprintf("%.1f %% / %.1f MiB", s.realCPU, s.realRSS), "≤ 64 MiB: "+met(s.realRSS <= 64))
	}
	for _, k := range []struct {
		name string
		res  killResult
		goal string
	}{{"power cut, 1 node", r.kill1, "≤ 2 s"}, {"power cut, 10 nodes at once", r.kill10, ""}} {
		if k.res.groups == 0 {
			continue
		}
		goal := ""
		if k.goal != "" {
			goal = k.goal + ": " + met(k.res.all <= 2*time.Second)
		}
		row(k.name, fmt.Sprintf("%s held %d groups: all held again after", strings.Join(k.res.nodes, ", "), k.res.groups), secs(k.res.all), goal)
		row("", "first / median group back", secs(k.res.first)+" / "+secs(k.res.p50), "")
		row("", "API writes from the cut until all held", fmt.Sprintf("%.0f in %s (%.0f/s; %s); %.0f answered 429", k.res.writes, k.res.window.Round(time.Millisecond),
			k.res.writes/k.res.window.Seconds(), k.res.writeTop, k.res.throttled), "")
	}
	if rr := r.rollRes; rr.took > 0 {
		what := fmt.Sprintf("%d speakers one at a time (SIGTERM, start, ready)", n)
		if rr.restarted < n {
			what = fmt.Sprintf("the first %d of %d speakers one at a time (SIGTERM, start, ready)", rr.restarted, n)
		}
		row("rolling restart", what, rr.took.Round(time.Second).String(), "")
		row("", "holder changes (claims / releases)", fmt.Sprintf("%d / %d", rr.claims, rr.releases), "")
		row("", fmt.Sprintf("SIGTERM → group held by another node, %d groups: max / p99 / p50", rr.moved),
			fmt.Sprintf("%s / %s / %s", secs(rr.longest), secs(rr.p99), secs(rr.p50)),
			"≤ one lease duration (2 s): "+met(rr.longest <= leaseDuration))
		if rr.kept > 0 {
			row("", "groups whose release failed, kept by the stopping node and adopted again after its restart", fmt.Sprint(rr.kept), "")
		}
		row("", "API writes in all", fmt.Sprintf("%.0f (%s); %.0f answered 429", rr.writes, rr.writeTop, rr.throttled), "")
		fs := r.finalSpread
		row("", "groups per speaker afterwards (min / median / max)", fmt.Sprintf("%d / %d / %d", fs[0], fs[1], fs[2]), "")
	}
	if r.wireBefore != "" {
		row("wire ("+realNode+", real binary)", "after the cold start", r.wireBefore, "its MAC only")
	}
	if r.wireAfter != "" {
		row("", "after the rolling restart", r.wireAfter, "")
	}
	b.WriteString("\nWrites and reads are the API server's own `apiserver_request_total` (every client: the speakers, their Events, the benchmark's watch, the API server's own lease); " +
		"watch events sent are `apiserver_watch_events_total{resource=\"leases\"}`, and the per-speaker figure is what the benchmark's own Lease watch (the same label selector as a speaker's) received. " +
		"Group times are when the benchmark's watch saw the lease change. CPU is user+system time from `/proc`, as a share of one core; several hundred speakers' worth of work shares 2 cores here, so CPU-bound times are upper bounds.\n")
	if len(r.profiles) > 0 {
		b.WriteString("\n## Profiles (top entries, `go tool pprof -top`)\n")
		for _, p := range r.profiles {
			fmt.Fprintf(&b, "\n### %s\n\n`%s`\n\n```\n%s```\n", p.what, p.path, pprofTop(p))
		}
	}
	return b.String()
}

// pprofTop is the first lines of `go tool pprof -top` for a profile.
func pprofTop(p profile) string {
	if p.path == "" {
		return "no profile\n"
	}
	if _, err := os.Stat(p.path); err != nil {
		return "no profile: " + err.Error() + "\n"
	}
	args := []string{"tool", "pprof", "-top", "-nodecount=12"}
	if strings.HasSuffix(p.path, ".heap") {
		args = append(args, "-sample_index=inuse_space")
	}
	out, err := exec.Command("go", append(args, p.bin, p.path)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof: %v\n%s", err, out)
	}
	lines := strings.Split(string(out), "\n")
	var keep []string
	for _, l := range lines {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// loadavg returns the first three fields of /proc/loadavg: other work on
// the shared VM changes every figure here.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
