package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/leaselb/leaselb/api/v1alpha1"
	"github.com/leaselb/leaselb/e2e/lab"
	"github.com/leaselb/leaselb/election"
	"github.com/leaselb/leaselb/internal/speaker"
)

// The goals the benchmark measures against, printed under its tables.
const (
	goalFailover = "node failure p50 <= 1.5 s, p99 <= 2.5 s; graceful stop → first GARP p99 <= 200 ms"
	goalWrites   = "<= 10 writes/s in total in steady state with 1,000 VIPs"
)

// Pauses for what the lab cannot observe directly.
const (
	// startupGrace lets a speaker or controller that fails at start (a bad
	// flag, missing RBAC) exit before speakersRunning looks.
	startupGrace = 2 * time.Second
	// probeBaseline lets a probe record answers before the failure, so a
	// gap is measured from traffic that flowed.
	probeBaseline = 500 * time.Millisecond
	// claimBurstEnd lets the claims and Events of newly created Services
	// drain before the steady-state window opens.
	claimBurstEnd = 5 * time.Second
	// failoverTail extends the failover window past the last moved lease,
	// to count the Events and refreshes that follow the claims.
	failoverTail = 2 * time.Second
)

// vipLeases selects the VIP leases.
var vipLeases = metav1.ListOptions{LabelSelector: election.RoleLabel + "=" + election.RoleVIP}

// benchPool is the pool for the many-VIP figures: a thousand VIPs do not
// fit in the documentation /24s, so they are IPv6, on the same link.
const benchPool = `apiVersion: leaselb.io/v1alpha1
kind: IPAddressPool
metadata:
  name: bench-pool
  namespace: leaselb-system
spec:
  addresses:
  - 2001:db8::1:0-2001:db8::1:fff
  autoAssign: false
---
apiVersion: leaselb.io/v1alpha1
kind: L2Advertisement
metadata:
  name: bench-l2
  namespace: leaselb-system
spec:
  ipAddressPools: [bench-pool]
`

// bench measures failover times (node failure, graceful stop) and the API
// load and speaker footprint at several VIP counts, against goalFailover and
// goalWrites, and writes a table.
func bench(ctx context.Context, root string, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	runs := fs.Int("runs", 20, "failovers per kind (node failure, graceful stop)")
	vipList := fs.String("vips", "10,100,1000", "VIP counts for the API-write and scale figures")
	steady := fs.Duration("steady", 30*time.Second, "steady-state window for writes/s, RSS and CPU")
	out := fs.String("out", filepath.Join(root, "bin", "bench-results.md"), "file the table is written to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var counts []int
	for _, s := range strings.Split(*vipList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("-vips %q: want comma-separated positive counts", *vipList)
		}
		counts = append(counts, n)
	}
	sort.Ints(counts)

	step("Starting the lab for the benchmark (prefix llb-)")
	l, err := lab.Start(ctx, lab.Options{Prefix: "llb-", Root: root, Logf: logf})
	if err != nil {
		return err
	}
	defer func() {
		step("Tearing the lab down")
		l.Close()
	}()
	time.Sleep(startupGrace)
	if err := speakersRunning(l); err != nil {
		return err
	}
	if err := l.Apply(ctx, lab.WalkthroughConfig()); err != nil {
		return err
	}
	if err := l.Apply(ctx, benchPool); err != nil {
		return err
	}
	r := &report{started: time.Now()}

	step(fmt.Sprintf("Node failure (link down + SIGKILL) x %d, probing HTTP every 50 ms from the client", *runs))
	if r.nodeFailure, err = benchNodeFailure(ctx, l, *runs); err != nil {
		return err
	}
	step(fmt.Sprintf("Graceful stop (SIGTERM of the holder's speaker) x %d", *runs))
	if r.gracefulARP, r.gracefulHTTP, err = benchGraceful(ctx, l, *runs); err != nil {
		return err
	}
	if err := l.DeleteAllServices(ctx); err != nil {
		return err
	}
	created := 0
	for _, n := range counts {
		step(fmt.Sprintf("%d VIPs: creating Services, waiting for IPs and holders", n))
		if err := createBenchServices(ctx, l, created, n); err != nil {
			return err
		}
		created = n
		row, err := benchScale(ctx, l, n, *steady)
		if err != nil {
			return err
		}
		r.scale = append(r.scale, row)
	}
	text := r.render(*runs)
	fmt.Print("\n" + text)
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nwritten to %s\n", *out)
	return nil
}

type scaleRow struct {
	vips               int
	steadyWrites       float64
	steadyLeaseWrites  float64
	failWrites         float64
	failWritesTotal    float64
	failWindow         time.Duration
	victim             string
	victimGroups       int
	allMoved           time.Duration
	sampleTraffic      time.Duration
	rssMiB, cpuPercent float64
	failoverErr        string
}

type report struct {
	started                   time.Time
	nodeFailure               []time.Duration
	gracefulARP, gracefulHTTP []time.Duration
	scale                     []scaleRow
}

func benchNodeFailure(ctx context.Context, l *lab.Lab, runs int) ([]time.Duration, error) {
	if err := l.CreateService(ctx, lab.ServiceSpec{Name: "bench-failover", Ports: []int32{8080}}); err != nil {
		return nil, err
	}
	ips, err := l.WaitIngress(ctx, "bench-failover", 1, time.Minute)
	if err != nil {
		return nil, err
	}
	vip := ips[0]
	var gaps []time.Duration
	for i := 0; i < runs && ctx.Err() == nil; i++ {
		old, err := waitServingHolder(ctx, l, vip, 8080)
		if err != nil {
			return nil, err
		}
		probe := l.StartProbe(vip, 8080, 50*time.Millisecond, time.Second)
		time.Sleep(probeBaseline)
		failedAt, err := l.FailNode(ctx, old)
		if err != nil {
			probe.Stop()
			return nil, err
		}
		err = lab.Eventually(ctx, time.Minute, 50*time.Millisecond, func() (bool, string) {
			_, _, ok := lab.Gap(probe.Samples(), failedAt, old)
			return ok, "no successor answered"
		})
		samples := probe.Stop()
		if err != nil {
			return nil, fmt.Errorf("run %d: traffic never left %s: %w", i+1, old, err)
		}
		gap, succ, _ := lab.Gap(samples, failedAt, old)
		gaps = append(gaps, gap)
		logf("run %2d: %s failed, %s answering after %s", i+1, old, succ, gap.Round(time.Millisecond))
		recovered := time.Now()
		if err := l.RecoverNode(ctx, old); err != nil {
			return nil, err
		}
		if err := waitRejoined(ctx, l, old, recovered); err != nil {
			return nil, err
		}
	}
	return gaps, nil
}

func benchGraceful(ctx context.Context, l *lab.Lab, runs int) (arpGaps, httpGaps []time.Duration, err error) {
	vip := ""
	if ips, err := l.IngressIPs(ctx, "bench-failover"); err == nil && len(ips) > 0 {
		vip = ips[0]
	} else {
		return nil, nil, fmt.Errorf("bench-failover has no IP: %v", err)
	}
	w, err := l.OpenARP()
	if err != nil {
		return nil, nil, err
	}
	defer w.Close()
	for i := 0; i < runs && ctx.Err() == nil; i++ {
		old, err := waitServingHolder(ctx, l, vip, 8080)
		if err != nil {
			return nil, nil, err
		}
		type ann struct {
			at  time.Time
			mac string
			err error
		}
		annCh := make(chan ann, 1)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			at, mac, err := w.FirstAnnouncement(vip, l.Hosts[old].MAC, 30*time.Second)
			annCh <- ann{at, mac, err}
		}()
		probe := l.StartProbe(vip, 8080, 50*time.Millisecond, time.Second)
		time.Sleep(probeBaseline)
		stoppedAt := l.StopSpeaker(old, 10*time.Second)
		a := <-annCh
		wg.Wait()
		_ = lab.Eventually(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
			_, _, ok := lab.Gap(probe.Samples(), stoppedAt, old)
			return ok, ""
		})
		samples := probe.Stop()
		if a.err != nil {
			return nil, nil, fmt.Errorf("run %d: no gratuitous ARP from a successor after SIGTERM of %s's speaker: %w", i+1, old, a.err)
		}
		arpGaps = append(arpGaps, a.at.Sub(stoppedAt))
		hg, succ, ok := lab.Gap(samples, stoppedAt, old)
		if ok {
			httpGaps = append(httpGaps, hg)
		}
		logf("run %2d: %s's speaker SIGTERM, first GARP from %s (%s) after %s, HTTP from %s after %s", i+1, old,
			l.NodeByMAC(a.mac), a.mac, a.at.Sub(stoppedAt).Round(time.Millisecond), succ, hg.Round(time.Millisecond))
		started := time.Now()
		if err := l.StartSpeaker(old); err != nil {
			return nil, nil, err
		}
		if err := waitRejoined(ctx, l, old, started); err != nil {
			return nil, nil, err
		}
	}
	return arpGaps, httpGaps, nil
}

// waitRejoined waits until node's speaker, restarted at since, has renewed
// its node lease: it is a candidate again, so the next run starts with every
// node in the election.
func waitRejoined(ctx context.Context, l *lab.Lab, node string, since time.Time) error {
	name := election.NodeLeaseName(node)
	return lab.Eventually(ctx, time.Minute, 100*time.Millisecond, func() (bool, string) {
		le, err := l.Client.CoordinationV1().Leases(lab.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		rt := le.Spec.RenewTime
		return rt != nil && rt.After(since), fmt.Sprintf("node lease %s not renewed since %s restarted", name, node)
	})
}

// waitServingHolder waits until the VIP answers from its lease holder.
func waitServingHolder(ctx context.Context, l *lab.Lab, vip string, port int) (string, error) {
	var h string
	err := lab.Eventually(ctx, time.Minute, 100*time.Millisecond, func() (bool, string) {
		h = l.Holder(ctx, vip)
		from, err := l.HTTPGet(ctx, vip, port, time.Second)
		return err == nil && h != "" && from == h, fmt.Sprintf("holder %q, GET: %q %v", h, from, err)
	})
	return h, err
}

// benchService names the i-th scale Service; isBenchService recognises
// those names (and not bench-failover).
func benchService(i int) string { return fmt.Sprintf("bench-%04d", i) }

func isBenchService(name string) bool {
	n, ok := strings.CutPrefix(name, "bench-")
	if !ok || n == "" {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// createBenchServices creates Services bench-<from>..bench-<to-1>, IPv6
// from the bench pool, and waits until every one has an IP and a holder.
func createBenchServices(ctx context.Context, l *lab.Lab, from, to int) error {
	start := time.Now()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := from; i < to; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			err := l.CreateService(ctx, lab.ServiceSpec{
				Name: benchService(i), Ports: []int32{8080}, Families: "v6",
				Annotations: map[string]string{v1alpha1.AnnotationAddressPool: "bench-pool"},
			})
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	logf("created %d Services in %s", to-from, time.Since(start).Round(time.Millisecond))
	err := lab.Eventually(ctx, 10*time.Minute, time.Second, func() (bool, string) {
		svcs, err := l.Client.CoreV1().Services("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		withIP := 0
		for _, s := range svcs.Items {
			if isBenchService(s.Name) && len(s.Status.LoadBalancer.Ingress) > 0 {
				withIP++
			}
		}
		held := heldBy(ctx, l)
		total := 0
		for _, c := range held {
			total += c
		}
		return withIP >= to && total >= to, fmt.Sprintf("%d/%d Services with an IP, %d groups held %v", withIP, to, total, held)
	})
	if err != nil {
		return err
	}
	logf("%d VIPs assigned and held after %s: %v", to, time.Since(start).Round(time.Millisecond), heldBy(ctx, l))
	return nil
}

// heldBy counts held VIP leases per holder.
func heldBy(ctx context.Context, l *lab.Lab) map[string]int {
	list, err := l.Client.CoordinationV1().Leases(lab.Namespace).List(ctx, vipLeases)
	m := map[string]int{}
	if err != nil {
		return m
	}
	for _, le := range list.Items {
		if le.Spec.HolderIdentity != nil && *le.Spec.HolderIdentity != "" {
			m[*le.Spec.HolderIdentity]++
		}
	}
	return m
}

func benchScale(ctx context.Context, l *lab.Lab, n int, steady time.Duration) (scaleRow, error) {
	row := scaleRow{vips: n}
	time.Sleep(claimBurstEnd)
	w0, err := apiWrites(ctx, l)
	if err != nil {
		return row, err
	}
	cpu0 := speakerCPU(l)
	t0 := time.Now()
	time.Sleep(steady)
	w1, err := apiWrites(ctx, l)
	if err != nil {
		return row, err
	}
	el := time.Since(t0).Seconds()
	cpu1 := speakerCPU(l)
	row.steadyWrites = (w1.all - w0.all) / el
	row.steadyLeaseWrites = (w1.leases - w0.leases) / el
	var rss float64
	var cpu float64
	for _, nd := range l.Nodes {
		rss = math.Max(rss, speakerRSSMiB(l, nd.Name))
		cpu = math.Max(cpu, (cpu1[nd.Name]-cpu0[nd.Name])/el*100)
	}
	row.rssMiB, row.cpuPercent = rss, cpu
	logf("%d VIPs steady: %.2f API writes/s (%.2f to Leases); speaker max RSS %.1f MiB, max CPU %.1f%%", n, row.steadyWrites, row.steadyLeaseWrites, rss, cpu)

	// Fail the node holding the most groups.
	held := heldBy(ctx, l)
	for node, c := range held {
		if c > row.victimGroups {
			row.victim, row.victimGroups = node, c
		}
	}
	var sample []string
	list, _ := l.Client.CoordinationV1().Leases(lab.Namespace).List(ctx, vipLeases)
	for _, le := range list.Items {
		ips := le.Annotations[speaker.IPsAnnotation]
		if le.Spec.HolderIdentity != nil && *le.Spec.HolderIdentity == row.victim && ips != "" && len(sample) < 5 {
			ip, _, _ := strings.Cut(ips, ",")
			sample = append(sample, ip)
		}
	}
	var probes []*lab.Probe
	for _, ip := range sample {
		probes = append(probes, l.StartProbe(ip, 8080, 100*time.Millisecond, time.Second))
	}
	time.Sleep(probeBaseline)
	wf0, _ := apiWrites(ctx, l)
	failedAt, err := l.FailNode(ctx, row.victim)
	if err != nil {
		return row, err
	}
	err = lab.Eventually(ctx, 5*time.Minute, 100*time.Millisecond, func() (bool, string) {
		h := heldBy(ctx, l)
		return h[row.victim] == 0, fmt.Sprintf("%s still holds %d groups", row.victim, h[row.victim])
	})
	if err != nil {
		row.failoverErr = err.Error()
	}
	row.allMoved = time.Since(failedAt)
	time.Sleep(failoverTail)
	wf1, _ := apiWrites(ctx, l)
	row.failWindow = time.Since(failedAt)
	row.failWritesTotal = wf1.all - wf0.all
	row.failWrites = row.failWritesTotal / row.failWindow.Seconds()
	for i, p := range probes {
		samples := p.Stop()
		if g, _, ok := lab.Gap(samples, failedAt, row.victim); ok && g > row.sampleTraffic {
			row.sampleTraffic = g
		} else if !ok {
			logf("sampled VIP %s: no successor answered over HTTP", sample[i])
		}
	}
	logf("%d VIPs: %s held %d groups; all moved after %s; %.2f writes/s over %s of failover; slowest of %d sampled VIPs answered after %s",
		n, row.victim, row.victimGroups, row.allMoved.Round(time.Millisecond), row.failWrites, row.failWindow.Round(time.Millisecond), len(sample), row.sampleTraffic.Round(time.Millisecond))
	recovered := time.Now()
	if err := l.RecoverNode(ctx, row.victim); err != nil {
		return row, err
	}
	return row, waitRejoined(ctx, l, row.victim, recovered)
}

type writeCount struct{ all, leases float64 }

// apiWrites sums apiserver_request_total over the write verbs, from the
// API server's own metrics (all clients, the API server's own lease too).
func apiWrites(ctx context.Context, l *lab.Lab) (writeCount, error) {
	data, err := l.Client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return writeCount{}, fmt.Errorf("scrape the API server's /metrics: %w", err)
	}
	var w writeCount
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		labels := line[:strings.LastIndex(line, "}")+1]
		verb := labelValue(labels, "verb")
		if verb != "POST" && verb != "PUT" && verb != "PATCH" && verb != "DELETE" && verb != "APPLY" {
			continue
		}
		if labelValue(labels, "dry_run") != "" {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[len(labels):]), 64)
		if err != nil {
			continue
		}
		w.all += v
		if labelValue(labels, "resource") == "leases" {
			w.leases += v
		}
	}
	return w, nil
}

func labelValue(labels, name string) string {
	i := strings.Index(labels, name+`="`)
	if i < 0 {
		return ""
	}
	rest := labels[i+len(name)+2:]
	return rest[:strings.IndexByte(rest, '"')]
}

// speakerCPU returns each speaker's user+system CPU seconds so far.
func speakerCPU(l *lab.Lab) map[string]float64 {
	m := map[string]float64{}
	for _, n := range l.Nodes {
		p := l.Proc("speaker-" + n.Name)
		if p == nil || p.Exited() {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
		if err != nil {
			continue
		}
		// Fields after the command name, which may hold spaces.
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
		if len(f) > 12 {
			ut, _ := strconv.ParseFloat(f[11], 64)
			st, _ := strconv.ParseFloat(f[12], 64)
			m[n.Name] = (ut + st) / 100 // USER_HZ is 100 on Linux
		}
	}
	return m
}

func speakerRSSMiB(l *lab.Lab, node string) float64 {
	p := l.Proc("speaker-" + node)
	if p == nil || p.Exited() {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func stats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "| – | – | – | – | 0 |"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		if i < 0 {
			i = 0
		}
		return s[i]
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
	return fmt.Sprintf("| %s | %s | %s | %s | %d |", ms(s[0]), ms(rank(0.5)), ms(rank(0.99)), ms(s[len(s)-1]), len(s))
}

func (r *report) render(runs int) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "# leaselb lab benchmark\n\n%s on %s (lab: network namespaces on one machine, real kube-apiserver; shared CPU, so treat as indicative). Speaker defaults (node lease renew 500 ms, duration 2 s).\n\n",
		r.started.UTC().Format(time.RFC3339), host)
	fmt.Fprintf(&b, "## Failover (%d runs each; percentiles by nearest rank)\n\n", runs)
	b.WriteString("| measure | min | p50 | p99 | max | runs |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| node failure → traffic restored on the successor (HTTP probe every 50 ms) %s\n", stats(r.nodeFailure))
	fmt.Fprintf(&b, "| graceful stop (SIGTERM) → successor's first gratuitous ARP seen by the client %s\n", stats(r.gracefulARP))
	fmt.Fprintf(&b, "| graceful stop (SIGTERM) → traffic on the successor (HTTP probe every 50 ms) %s\n", stats(r.gracefulHTTP))
	b.WriteString("\nGoals: " + goalFailover + ".\n\n")
	b.WriteString("## Scale (IPv6 VIPs, one Service each, 3 nodes)\n\n")
	b.WriteString("| VIPs | API writes/s steady (all / Leases) | API writes during failover: total in window (per s) | failed node held | all its groups moved after | slowest of 5 sampled VIPs back after | speaker RSS max | speaker CPU max |\n|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.scale {
		moved := s.allMoved.Round(time.Millisecond).String()
		if s.failoverErr != "" {
			moved = "not all: " + s.failoverErr
		}
		fmt.Fprintf(&b, "| %d | %.2f / %.2f | %.0f in %s (%.1f/s) | %d (%s) | %s | %s | %.1f MiB | %.1f %% |\n",
			s.vips, s.steadyWrites, s.steadyLeaseWrites, s.failWritesTotal, s.failWindow.Round(100*time.Millisecond), s.failWrites, s.victimGroups, s.victim,
			moved, s.sampleTraffic.Round(time.Millisecond), s.rssMiB, s.cpuPercent)
	}
	b.WriteString("\nAPI writes are counted from the API server's `apiserver_request_total` (verbs POST, PUT, PATCH, DELETE, APPLY), so they include every client: the speakers, the controller, and the API server's own lease (about 0.1/s). The failover window runs from the failure to " + failoverTail.String() + " after the last of the failed node's leases moved; its writes are the successors' claims plus their Events. Goal: " + goalWrites + ". CPU is the busiest speaker's user+system time over the steady window, as a share of one core.\n")
	return b.String()
}
