//go:build e2e

package realnodes

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leaselb/leaselb/e2e/lab"
)

// TestInstall: the install manifest runs as written. Controller 2/2 and
// speaker 3/3 Ready (their probes pass), each process under the
// securityContext the manifest asks for, as the kernel reports it, and
// `leaselb doctor` finds nothing wrong with this cluster.
func TestInstall(t *testing.T) {
	l := needCluster(t)
	ctx := context.Background()
	for _, tc := range []struct{ kind, name, path, want string }{
		{"deployment", "controller", "{.status.readyReplicas}/{.spec.replicas}", "2/2"},
		{"daemonset", "speaker", "{.status.numberReady}/{.status.desiredNumberScheduled}", "3/3"},
	} {
		out, err := l.Kubectl(ctx, "-n", lab.Namespace, "get", tc.kind, tc.name, "-o", "jsonpath="+tc.path)
		if err != nil || out != tc.want {
			t.Errorf("%s/%s ready: %q %v, want %s", tc.kind, tc.name, out, err, tc.want)
		}
	}
	procs, err := l.LeaselbProcesses()
	if err != nil {
		t.Fatal(err)
	}
	// NET_RAW is capability 13; nothing else may be effective.
	const netRaw = "0000000000002000"
	want := map[string]struct {
		uid, capEff string
	}{
		"speaker":    {"0 0 0 0", netRaw},
		"controller": {"65532 65532 65532 65532", "0000000000000000"},
	}
	count := map[string]int{}
	for _, p := range procs {
		w, ok := want[p.Command]
		if !ok {
			t.Errorf("pid %d: unexpected leaselb %s", p.PID, p.Command)
			continue
		}
		count[p.Command]++
		if p.Status["Uid"] != w.uid || p.Status["CapEff"] != w.capEff || p.Status["CapPrm"] != w.capEff || p.Status["NoNewPrivs"] != "1" || !p.RootReadOnly {
			t.Errorf("leaselb %s (pid %d): Uid %q CapEff %q CapPrm %q NoNewPrivs %q read-only root %v; want Uid %q, CapEff=CapPrm %s, NoNewPrivs 1, read-only root",
				p.Command, p.PID, p.Status["Uid"], p.Status["CapEff"], p.Status["CapPrm"], p.Status["NoNewPrivs"], p.RootReadOnly, w.uid, w.capEff)
		}
	}
	if count["speaker"] != 3 || count["controller"] != 2 {
		t.Errorf("leaselb processes in the lab's pods: %v, want 3 speakers and 2 controllers", count)
	}
	out, err := lab.NetnsExec(ctx, l.Hosts["client"].NS, l.Bin("leaselb"), "doctor", "--kubeconfig", l.AdminKubeconfig())
	t.Logf("leaselb doctor:\n%s", out)
	if err != nil || !strings.Contains(out, "No problems found") || strings.Contains(out, "[warn]") {
		t.Errorf("leaselb doctor: %v; want no problem and no warning on this cluster", err)
	}
}

// TestWalkthrough: the walkthrough on real pods. A two-port Service gets an
// EXTERNAL-IP that `kubectl get svc` shows; exactly one MAC answers ARP for
// it (and NDP for the IPv6 address of a dual-stack Service), that of the
// lease holder; curl reaches the app's pods through the real kube-proxy on
// both ports and both families.
func TestWalkthrough(t *testing.T) {
	l := needCluster(t)
	ctx := context.Background()
	w, err := l.OpenARP()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := l.CreateService(ctx, lab.ServiceSpec{Name: "almighty", Ports: []int32{8080, 8081}, App: app, Families: "dual"}); err != nil {
		t.Fatal(err)
	}
	ips, err := l.WaitIngress(ctx, "almighty", 2, settle)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := l.Kubectl(ctx, "get", "svc", "almighty")
	t.Logf("kubectl get svc almighty:\n%s", out)
	for _, ip := range ips {
		if !strings.Contains(out, ip) {
			t.Errorf("kubectl get svc does not show %s", ip)
		}
	}
	pods, err := l.PodsByNode(ctx, "default", "app="+app)
	if err != nil {
		t.Fatal(err)
	}
	isPod := map[string]bool{}
	for _, names := range pods {
		for _, n := range names {
			isPod[n] = true
		}
	}
	h, err := l.WaitHolder(ctx, ips[0], "", settle)
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips {
		if err := l.WaitOneMAC(ctx, w, ip, h, settle); err != nil {
			t.Error(err)
		}
		for _, port := range []int{8080, 8081} {
			var from string
			err := lab.Eventually(ctx, settle, 250*time.Millisecond, func() (bool, string) {
				from, err = l.HTTPGet(ctx, ip, port, 2*time.Second)
				return err == nil, fmt.Sprintf("GET %s port %d: %v", ip, port, err)
			})
			if err != nil {
				t.Error(err)
			} else if !isPod[from] {
				t.Errorf("%s:%d answered From=%s, not one of the app's pods %v", ip, port, from, pods)
			}
		}
	}
	curl, err := l.Curl(ctx, ips[0], 8080)
	t.Logf("curl %s:8080 -> %q %v", ips[0], strings.TrimSpace(curl), err)

	// Who answers for what, as a person asks it: `leaselb status` names the
	// holder of both IPs (through the real API server: field selectors,
	// watches, RBAC-free admin here).
	out, err = lab.NetnsExec(ctx, l.Hosts["client"].NS, l.Bin("leaselb"), "status", "--kubeconfig", l.AdminKubeconfig(), "default/almighty")
	t.Logf("leaselb status default/almighty:\n%s", out)
	if err != nil {
		t.Fatalf("leaselb status: %v", err)
	}
	var row string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "default/almighty ") {
			row = line
		}
	}
	if !strings.Contains(row, ips[0]) || !strings.Contains(row, ips[1]) || !strings.Contains(row, " "+h+" ") {
		t.Errorf("leaselb status row %q: want both IPs %v and the holder %s", row, ips, h)
	}
}

// TestLocalTrafficPolicyFollowsThePod: with externalTrafficPolicy Local only
// the node running the app's pod may announce; the real EndpointSlice
// controller moves the VIP when the pod moves to another node.
func TestLocalTrafficPolicyFollowsThePod(t *testing.T) {
	l := needCluster(t)
	ctx := context.Background()
	first, second := l.Nodes[0].Name, l.Nodes[1].Name
	if err := l.Apply(ctx, lab.EchoApp("local-app", 1, first)); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitDeployment(ctx, "local-app", settle); err != nil {
		t.Fatal(err)
	}
	if err := l.CreateService(ctx, lab.ServiceSpec{Name: "local", Ports: []int32{8080}, App: "local-app", Local: true}); err != nil {
		t.Fatal(err)
	}
	ips, err := l.WaitIngress(ctx, "local", 1, settle)
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range []string{first, second} {
		if node == second {
			if err := l.Apply(ctx, lab.EchoApp("local-app", 1, second)); err != nil {
				t.Fatal(err)
			}
		}
		err := lab.Eventually(ctx, settle, 200*time.Millisecond, func() (bool, string) {
			h := l.Holder(ctx, ips[0])
			pods, _ := l.PodsByNode(ctx, "default", "app=local-app")
			from, err := l.HTTPGet(ctx, ips[0], 8080, 2*time.Second)
			onNode := len(pods[node]) == 1 && from == pods[node][0]
			return h == node && err == nil && onNode && len(pods) == 1,
				fmt.Sprintf("holder %q, pods %v, GET: %q %v; want holder %s and its pod answering", h, pods, from, err, node)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("pod on %s: %s holds %s", node, node, ips[0])
	}
}

// TestNodeFailure: the holder node loses its link and everything on it
// dies (kubelet, containerd, kube-proxy, pods); the VIP moves and traffic
// reaches the app again through another node.
func TestNodeFailure(t *testing.T) {
	l := needCluster(t)
	ctx := context.Background()
	vip := lbService(t, l, "failover")
	old, err := l.WaitHolder(ctx, vip, "", settle)
	if err != nil {
		t.Fatal(err)
	}
	probe := l.StartProbe(vip, 8080, 50*time.Millisecond, 500*time.Millisecond)
	time.Sleep(time.Second)
	failedAt, err := l.FailRealNode(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	successor, err := l.WaitHolder(ctx, vip, old, settle)
	if err != nil {
		t.Fatal(err)
	}
	// Pods of the dead node stay in the EndpointSlices until the node
	// lifecycle controller marks them; wait for the app to answer steadily.
	time.Sleep(3 * time.Second)
	samples := probe.Stop()
	// The gap is the longest a request waited for an answer (from its
	// start to the first success started at or after it): the moment the
	// link goes down is only known to within the time `ip` takes, so "first
	// answer after the failure" could count a request that slipped through
	// before it.
	gap, at := lab.LongestWait(samples)
	// The dead node's pod stays an endpoint until the node lifecycle
	// controller marks it (20 s here), so some requests still time out:
	// the app must answer again, not every request.
	if err := lab.Eventually(ctx, settle, 100*time.Millisecond, func() (bool, string) {
		_, err := l.HTTPGet(ctx, vip, 8080, time.Second)
		return err == nil, fmt.Sprintf("GET %s:8080: %v", vip, err)
	}); err != nil {
		t.Fatalf("the app does not answer through %s after %s failed: %v", successor, old, err)
	}
	t.Logf("node %s failed at %s: %s holds %s; a request waited %s for an answer (started %s)",
		old, failedAt.Format("15:04:05.000"), successor, vip, gap.Round(time.Millisecond), at.Format("15:04:05.000"))
}

// rollingGoal is the longest a client may wait for an answer during a
// rolling update of the speakers; rollingOutage is where the scenario calls
// it an outage.
const (
	rollingGoal   = 250 * time.Millisecond
	rollingOutage = time.Second
)

// TestSpeakerRollingUpdate: changing the speaker DaemonSet's arguments
// replaces one node's pod at a time through the kubelet's SIGTERM and grace
// period. The stopping speaker hands its VIP over, so a client polling
// every 20 ms never meets an outage (the figure is logged against the goal
// of 250 ms), and a raw ARP sampler never hears two MACs.
func TestSpeakerRollingUpdate(t *testing.T) {
	l := needCluster(t)
	ctx := context.Background()
	vip := lbService(t, l, "rolling")
	w, err := l.OpenARP()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	before := speakerPods(t, l)
	probe := l.StartProbe(vip, 8080, 20*time.Millisecond, time.Second)
	stop := make(chan struct{})
	twoMACs := make(chan string, 100)
	samplerDone := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				samplerDone <- n
				return
			default:
			}
			macs, _ := w.WhoHas(vip, 150*time.Millisecond)
			n++
			if len(macs) > 1 {
				select {
				case twoMACs <- fmt.Sprintf("%s %v", time.Now().Format("15:04:05.000"), macs):
				default:
				}
			}
		}
	}()
	time.Sleep(time.Second)
	patch := `[{"op": "replace", "path": "/spec/template/spec/containers/0/args/1", "value": "--log-level=debug"}]`
	if _, err := l.Kubectl(ctx, "-n", lab.Namespace, "patch", "daemonset", "speaker", "--type=json", "-p", patch); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		undo := `[{"op": "replace", "path": "/spec/template/spec/containers/0/args/1", "value": "--log-level=info"}]`
		_, _ = l.Kubectl(context.Background(), "-n", lab.Namespace, "patch", "daemonset", "speaker", "--type=json", "-p", undo)
	})
	if err := l.WaitLeaselbRollout(ctx, 4*time.Minute); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	close(stop)
	samples := probe.Stop()
	sampled := <-samplerDone
	close(twoMACs)
	for m := range twoMACs {
		t.Errorf("two MACs answered ARP for %s at %s", vip, m)
	}
	after := speakerPods(t, l)
	for node, pod := range before {
		if after[node] == "" || after[node] == pod {
			t.Errorf("speaker on %s: %q before, %q after the rollout; want a new pod", node, pod, after[node])
		}
	}
	longest, at := lab.LongestWait(samples)
	failed := 0
	for _, s := range samples {
		if s.Err != nil {
			failed++
		}
	}
	t.Logf("rolling update: %d probes (%d failed), %d ARP samples; longest wait for an answer %s (from %s); holder now %s",
		len(samples), failed, sampled, longest.Round(time.Millisecond), at.Format("15:04:05.000"), l.Holder(ctx, vip))
	// The goal is 250 ms, and an unloaded run measures about 50 ms; the
	// assertion is looser so that a loaded machine (a stalled client or
	// kubelet) does not fail it, while an outage (a VIP nobody answers for,
	// a request that times out) does.
	t.Logf("goal: at most %s", rollingGoal)
	if longest > rollingOutage {
		t.Errorf("a client polling every 20 ms waited %s for an answer during the rolling update: an outage (goal %s)", longest.Round(time.Millisecond), rollingGoal)
	}
}

// TestControllerLeaderPodDeleted: deleting the leading controller's pod
// hands leadership to the other replica, which serves the next Service.
func TestControllerLeaderPodDeleted(t *testing.T) {
	l := needCluster(t)
	ctx := context.Background()
	leader := l.ControllerLeader(ctx)
	if leader == "" {
		t.Fatal("no controller leader")
	}
	start := time.Now()
	if _, err := l.Kubectl(ctx, "-n", lab.Namespace, "delete", "pod", leader, "--wait=false"); err != nil {
		t.Fatal(err)
	}
	var next string
	if err := lab.Eventually(ctx, settle, 100*time.Millisecond, func() (bool, string) {
		next = l.ControllerLeader(ctx)
		return next != "" && next != leader, fmt.Sprintf("leader %q", next)
	}); err != nil {
		t.Fatal(err)
	}
	led := time.Since(start)
	if err := l.CreateService(ctx, lab.ServiceSpec{Name: "after-leader", Ports: []int32{8080}, App: app}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.WaitIngress(ctx, "after-leader", 1, settle); err != nil {
		t.Fatal(err)
	}
	t.Logf("leader pod %s deleted: %s leads after %s; a new Service had its IP %s after the deletion",
		leader, next, led.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// controllerTakeoverGoal is how soon after the leading controller stops
// a new Service must have its IP; controllerTakeoverLimit is where the
// scenario fails (a loaded machine may miss the goal; client-go's polling
// elector, with its 15 s lease, could not meet the limit).
const (
	controllerTakeoverGoal  = 3 * time.Second
	controllerTakeoverLimit = 10 * time.Second
)

// TestControllerLeaderHung: the leading controller's process is frozen
// (SIGSTOP: it neither works nor releases, and unlike a SIGKILL the kubelet
// does not restart it under the same name, which would simply lead on).
// The standby leads once the Lease lapses and gives a new Service its IP;
// when the old leader thaws it must find itself replaced and not act.
func TestControllerLeaderHung(t *testing.T) {
	l := needCluster(t)
	ctx := context.Background()
	leader, pid, next, ips := newServiceAfterLeaderSignal(t, l, syscall.SIGSTOP, "after-hang")
	if next == leader {
		t.Errorf("the frozen %s still holds the controller Lease", leader)
	}
	// Thawed, the old leader finds the Lease taken and leaves it alone.
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if now := l.ControllerLeader(ctx); now != next {
		t.Errorf("after %s thawed the Lease names %q; want %s to keep leading", leader, now, next)
	}
	if got, _ := l.IngressIPs(ctx, "after-hang"); strings.Join(got, ",") != strings.Join(ips, ",") {
		t.Errorf("Service after-hang: IPs %v after the old leader thawed, want %v", got, ips)
	}
}

// TestControllerLeaderKilled: the leading controller's process is killed
// (SIGKILL: it cannot release). The kubelet restarts the container in the
// same pod, which leads on under the same identity, or the standby takes
// the Lease once it lapses; either way a new Service must get its IP within
// the goal (the scenario fails only at the limit: the machine is shared).
func TestControllerLeaderKilled(t *testing.T) {
	newServiceAfterLeaderSignal(t, needCluster(t), syscall.SIGKILL, "after-kill")
}

// newServiceAfterLeaderSignal sends sig to the leading controller's
// process (a stopped one is continued when the test ends), creates the
// one-port Service service, waits for its IP and logs how long that took;
// above controllerTakeoverLimit it is an error. It returns the leader that
// got sig, its PID, the leader after the IP came, and the IP.
func newServiceAfterLeaderSignal(t *testing.T, l *lab.Lab, sig syscall.Signal, service string) (leader string, pid int, next string, ips []string) {
	t.Helper()
	ctx := context.Background()
	leader, pid = leaderProcess(t, l)
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	if sig == syscall.SIGSTOP {
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	}
	if err := l.CreateService(ctx, lab.ServiceSpec{Name: service, Ports: []int32{8080}, App: app}); err != nil {
		t.Fatal(err)
	}
	ips, err := l.WaitIngress(ctx, service, 1, settle)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(signalled)
	next = l.ControllerLeader(ctx)
	t.Logf("leading controller %s got %v: %s leads; a new Service got %v %s later (goal %s)",
		leader, sig, next, ips, took.Round(time.Millisecond), controllerTakeoverGoal)
	if took > controllerTakeoverLimit {
		t.Errorf("a new Service waited %s for its IP after the leading controller got %v; want at most %s (goal %s)",
			took.Round(time.Millisecond), sig, controllerTakeoverLimit, controllerTakeoverGoal)
	}
	return leader, pid, next, ips
}

// leaderProcess returns the pod leading the controllers and its
// controller process's PID.
func leaderProcess(t *testing.T, l *lab.Lab) (pod string, pid int) {
	t.Helper()
	leader := l.ControllerLeader(context.Background())
	procs, err := l.LeaselbProcesses()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if p.Command == "controller" && p.Pod == leader {
			pid = p.PID
		}
	}
	if leader == "" || pid == 0 {
		t.Fatalf("leader %q: no controller process found for it in %+v", leader, procs)
	}
	return leader, pid
}

// TestDrainMovesVIPsFirst: `kubectl drain` of the holder node cordons it;
// a cordoned node is no candidate, so its VIP moves (a graceful handover)
// while its speaker pod still runs, before the node goes down.
func TestDrainMovesVIPsFirst(t *testing.T) {
	l := needCluster(t)
	ctx := context.Background()
	vip := lbService(t, l, "drain")
	old, err := l.WaitHolder(ctx, vip, "", settle)
	if err != nil {
		t.Fatal(err)
	}
	speaker := l.SpeakerPod(ctx, old)
	probe := l.StartProbe(vip, 8080, 20*time.Millisecond, time.Second)
	if out, err := l.Kubectl(ctx, "drain", old, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=2m"); err != nil {
		t.Fatalf("kubectl drain %s: %v\n%s", old, err, out)
	}
	successor, err := l.WaitHolder(ctx, vip, old, settle)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitDeployment(ctx, app, settle); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	samples := probe.Stop()
	if now := l.SpeakerPod(ctx, old); now != speaker {
		t.Errorf("speaker pod on %s: %q before the drain, %q after; the VIP must move while it runs", old, speaker, now)
	}
	longest, _ := lab.LongestWait(samples)
	t.Logf("drain %s: %s holds %s; the speaker %s still runs; longest wait for an answer %s",
		old, successor, vip, speaker, longest.Round(time.Millisecond))
}

// lbService creates a LoadBalancer Service for the app and returns its IP
// once it answers and the client's neighbour table sends it to the holder
// (every node's kube-proxy would forward it, so a stale entry from an
// earlier scenario would hide a failover).
func lbService(t *testing.T, l *lab.Lab, name string) string {
	t.Helper()
	ctx := context.Background()
	if err := l.CreateService(ctx, lab.ServiceSpec{Name: name, Ports: []int32{8080}, App: app}); err != nil {
		t.Fatal(err)
	}
	ips, err := l.WaitIngress(ctx, name, 1, settle)
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Eventually(ctx, settle, 250*time.Millisecond, func() (bool, string) {
		_, err := l.HTTPGet(ctx, ips[0], 8080, 2*time.Second)
		h := l.Holder(ctx, ips[0])
		mac := l.NeighMAC(ctx, ips[0])
		return err == nil && h != "" && mac == l.Hosts[h].MAC,
			fmt.Sprintf("GET %s:8080: %v; holder %q; the client's neighbour entry %q", ips[0], err, h, mac)
	}); err != nil {
		t.Fatal(err)
	}
	return ips[0]
}

// speakerPods maps node to speaker pod name.
func speakerPods(t *testing.T, l *lab.Lab) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range l.Nodes {
		out[n.Name] = l.SpeakerPod(context.Background(), n.Name)
	}
	return out
}
