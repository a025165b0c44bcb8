//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/leaselb/leaselb/e2e/lab"
)

// Scenario 4: externalTrafficPolicy: Local. Only a node with a ready local
// endpoint announces; moving the endpoint moves the VIP; no endpoint, no
// announcement.
func TestLocalTrafficPolicy(t *testing.T) {
	l := needLeaselb(t)
	ctx := context.Background()
	vip := createService(t, l, lab.ServiceSpec{Name: "local", Ports: []int32{8080}, Local: true}, 1)[0]
	// Give a wrong announcement time to show before checking there is none.
	time.Sleep(3 * time.Second)
	noMAC(t, l, vip)
	for _, node := range []string{"node-b", "node-c"} {
		if err := l.SetEndpoints(ctx, "local", node); err != nil {
			t.Fatal(err)
		}
		waitHolder(t, l, vip, node)
		if from := serving(t, l, vip, 8080); from != node {
			t.Errorf("endpoint on %s, but %s answered", node, from)
		}
		oneMAC(t, l, vip, node)
	}
	if err := l.SetEndpoints(ctx, "local"); err != nil {
		t.Fatal(err)
	}
	noMAC(t, l, vip)
}

// Scenario 5: L2Advertisement.nodeSelectors limits who announces; the
// exclude-from-external-load-balancers label takes a node out.
func TestNodeSelectorsAndExclusion(t *testing.T) {
	l := needLeaselb(t)
	ctx := context.Background()
	vip := createService(t, l, ServiceSpecFor("selected", 8080), 1)[0]
	serving(t, l, vip, 8080)
	first := holder(t, l, vip, "")
	target := otherNode(l, first)
	adv := fmt.Sprintf(`apiVersion: leaselb.io/v1alpha1
kind: L2Advertisement
metadata:
  name: mt-network-l2
  namespace: %s
spec:
  ipAddressPools: [first-pool]
  nodeSelectors:
  - matchLabels:
      kubernetes.io/hostname: %s
`, lab.Namespace, target)
	if err := l.Apply(ctx, adv); err != nil {
		t.Fatal(err)
	}
	waitHolder(t, l, vip, target)
	oneMAC(t, l, vip, target)
	if from := serving(t, l, vip, 8080); from != target {
		t.Errorf("nodeSelectors pick %s, but %s answered", target, from)
	}

	// Every node may announce again; the holder keeps the VIP (no needless
	// move), until it is excluded.
	if err := l.Apply(ctx, lab.WalkthroughConfig()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if h := l.Holder(ctx, vip); h != target {
		t.Errorf("after widening the advertisement the VIP moved from %s to %s; a healthy holder should keep it", target, h)
	}
	if _, err := l.Kubectl(ctx, "label", "node", target, "node.kubernetes.io/exclude-from-external-load-balancers=true"); err != nil {
		t.Fatal(err)
	}
	moved := holder(t, l, vip, target)
	oneMAC(t, l, vip, moved)
	t.Logf("VIP %s: %s -> %s (nodeSelectors) -> %s (%s excluded)", vip, first, target, moved, target)
}

// Scenario 7: with the API server stopped, every VIP keeps answering from
// its holder; after it returns, nothing moves.
func TestAPIServerOutage(t *testing.T) {
	l := needLeaselb(t)
	ctx := context.Background()
	outage := 60 * time.Second
	if v := os.Getenv("E2E_API_OUTAGE"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			outage = d
		}
	}
	names := []string{"outage-a", "outage-b", "outage-c"}
	vips := map[string]string{}
	holders := map[string]string{}
	for _, n := range names {
		vips[n] = createService(t, l, ServiceSpecFor(n, 8080), 1)[0]
	}
	for _, n := range names {
		serving(t, l, vips[n], 8080)
		holders[n] = holder(t, l, vips[n], "")
	}
	t.Logf("holders before the outage: %v", holders)
	l.StopAPIServer()
	down := time.Now()
	for time.Since(down) < outage {
		for _, n := range names {
			from, err := l.HTTPGet(ctx, vips[n], 8080, 3*time.Second)
			if err != nil || from != holders[n] {
				t.Errorf("%s after %s without API server: GET %s answered %q (%v), want %s", n, time.Since(down).Round(time.Second), vips[n], from, err, holders[n])
			}
		}
		time.Sleep(5 * time.Second)
	}
	if err := l.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitAPIServer(ctx, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server back after %s", time.Since(down).Round(time.Second))
	// Give the speakers time to re-list and reconcile, then check nothing moved.
	time.Sleep(10 * time.Second)
	for _, n := range names {
		if h := l.Holder(ctx, vips[n]); h != holders[n] {
			t.Errorf("%s moved from %s to %s after the API server came back", n, holders[n], h)
		}
		if from := serving(t, l, vips[n], 8080); from != holders[n] {
			t.Errorf("%s answered from %s, want %s", n, from, holders[n])
		}
		oneMAC(t, l, vips[n], holders[n])
	}
	// The speakers catch up with changes made after the outage: deleting
	// the Services releases and removes their leases. (client-go's watch
	// backoff after an outage can delay this by tens of seconds.)
	deleted := time.Now()
	for _, n := range names {
		l.DeleteService(ctx, n)
	}
	err := lab.Eventually(ctx, 3*time.Minute, 500*time.Millisecond, func() (bool, string) {
		c := l.VIPLeases(ctx)
		return c == 0, fmt.Sprintf("%d VIP leases left after their Services were deleted", c)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the outage, the Services' deletion was seen and their leases removed in %s", time.Since(deleted).Round(time.Millisecond))
	// A speaker whose Service watch is still backing off still believes the
	// deleted Services exist; it must not claim their (now free) groups
	// again ("no leases left for Services that no longer exist"). The
	// speakers hold only, claiming nothing, until their watches are back
	// (reason staleView). Watch for 20 quiet seconds; on a failure the lab
	// waits it out so later scenarios start clean.
	recreated := ""
	quietSince := time.Now()
	for time.Since(quietSince) < 20*time.Second && time.Since(deleted) < 4*time.Minute {
		if c := l.VIPLeases(ctx); c != 0 {
			if recreated == "" {
				recreated, _ = l.Kubectl(ctx, "get", "leases", "-n", lab.Namespace, "-l", "leaselb.io/role=vip")
			}
			quietSince = time.Now()
		}
		time.Sleep(500 * time.Millisecond)
	}
	if recreated != "" {
		t.Errorf("after the outage, a speaker re-created VIP leases for deleted Services (its Service watch was still backing off); gone again %s after the deletion:\n%s",
			time.Since(deleted).Round(time.Second), recreated)
	}
}

// Scenario 8: the holder loses the API server but not the LAN. A successor
// takes over; the old holder sees the successor's gratuitous ARP and stops;
// two MACs answer at most during that fenced handover, never after.
func TestHolderCutFromAPIServer(t *testing.T) {
	l := needLeaselb(t)
	ctx := context.Background()
	vip := createService(t, l, ServiceSpecFor("cut", 8080), 1)[0]
	serving(t, l, vip, 8080)
	old := holder(t, l, vip, "")
	w, err := l.OpenARP()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := l.CutFromAPI(ctx, old); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	type sample struct {
		at   time.Time
		macs []string
	}
	var samples []sample
	var successorMAC string
	var settledAt time.Time
	for time.Since(cut) < failover+10*time.Second {
		macs, err := w.WhoHas(vip, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, sample{time.Now(), macs})
		if successorMAC == "" && len(macs) == 1 && macs[0] != l.Hosts[old].MAC {
			successorMAC, settledAt = macs[0], time.Now()
		}
		if successorMAC != "" && time.Since(settledAt) > 5*time.Second {
			break
		}
	}
	if successorMAC == "" {
		t.Fatalf("no successor alone on the wire %s after cutting %s from the API server", time.Since(cut).Round(time.Second), old)
	}
	successor := l.NodeByMAC(successorMAC)
	var both, silent int
	var lastBoth time.Time
	for _, s := range samples {
		if len(s.macs) > 1 {
			both++
			lastBoth = s.at
		}
		// After the handover settled the old holder must never answer
		// again. (A sample with no reply at all is only counted: on a
		// loaded machine a reply can miss the 300 ms window.)
		if s.at.After(settledAt) {
			for _, m := range s.macs {
				if m != successorMAC {
					t.Errorf("after the handover settled, %s answered by %v (%s)", vip, s.macs, nodesOf(l, s.macs))
				}
			}
			if len(s.macs) == 0 {
				silent++
			}
		}
	}
	t.Logf("%s cut from the API server: %s alone on the wire after %s; %d of %d ARP samples saw two MACs (last %s after the cut); %d unanswered after settling",
		old, successor, settledAt.Sub(cut).Round(time.Millisecond), both, len(samples), durSince(lastBoth, cut), silent)
	if h := l.Holder(ctx, vip); h != successor {
		t.Errorf("lease holder %s, but %s answers on the wire", h, successor)
	}
	// Back on the API server, the old holder must not take the VIP back.
	if err := l.HealFromAPI(ctx, old); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	oneMAC(t, l, vip, successor)
}

func durSince(t, from time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Sub(from).Round(time.Millisecond).String()
}

// Scenario 9: two Services sharing one IP (same sharing key) are one group,
// announced and served from one node.
func TestSharedIP(t *testing.T) {
	l := needLeaselb(t)
	shared := map[string]string{"leaselb.io/allow-shared-ip": "web"}
	a := createService(t, l, lab.ServiceSpec{Name: "shared-a", Ports: []int32{8080}, LoadBalancerIP: "192.0.2.197", Annotations: shared}, 1)[0]
	b := createService(t, l, lab.ServiceSpec{Name: "shared-b", Ports: []int32{9090}, LoadBalancerIP: "192.0.2.197", Annotations: shared}, 1)[0]
	if a != "192.0.2.197" || b != a {
		t.Fatalf("shared IP: shared-a got %s, shared-b got %s, want both 192.0.2.197", a, b)
	}
	h := holder(t, l, a, "")
	fa := serving(t, l, a, 8080)
	fb := serving(t, l, b, 9090)
	if fa != h || fb != h {
		t.Errorf("shared IP: port 8080 from %s, 9090 from %s, holder %s", fa, fb, h)
	}
	oneMAC(t, l, a, h)
}

// Scenario 10: restarting the controller changes no Service's IP, and the
// new controller still hands out IPs.
func TestControllerRestart(t *testing.T) {
	l := needLeaselb(t)
	ctx := context.Background()
	before := map[string]string{}
	for _, n := range []string{"keep-a", "keep-b", "keep-c"} {
		before[n] = strings.Join(createService(t, l, ServiceSpecFor(n, 8080), 1), ",")
	}
	if err := l.RestartController(); err != nil {
		t.Fatal(err)
	}
	after := createService(t, l, ServiceSpecFor("after-restart", 8080), 1)
	t.Logf("IPs before restart %v; new Service after restart got %v", before, after)
	for n, ips := range before {
		got, err := l.IngressIPs(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != ips {
			t.Errorf("%s: IP changed across a controller restart: %s -> %v", n, ips, got)
		}
		for _, e := range l.Events(ctx, n) {
			if strings.HasPrefix(e, "IPChanged") {
				t.Errorf("%s: unexpected event %q", n, e)
			}
		}
	}
	lease, err := l.Client.CoordinationV1().Leases(lab.Namespace).Get(ctx, "leaselb-controller", metav1.GetOptions{})
	if err == nil && lease.Spec.HolderIdentity != nil {
		t.Logf("controller lease held by %s", *lease.Spec.HolderIdentity)
	}
}

// waitHolder waits until the VIP lease of ip's group is held by want.
func waitHolder(t *testing.T, l *lab.Lab, ip, want string) {
	t.Helper()
	ctx := context.Background()
	err := lab.Eventually(ctx, failover, 200*time.Millisecond, func() (bool, string) {
		h := l.Holder(ctx, ip)
		return h == want, fmt.Sprintf("lease %s holder %q, want %s", lab.GroupName(ip), h, want)
	})
	if err != nil {
		t.Fatal(err)
	}
}
