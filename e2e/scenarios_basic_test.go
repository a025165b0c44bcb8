//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/leaselb/leaselb/e2e/lab"
)

// Scenario 1, the walkthrough: the pool and advertisement, a two-port
// Service; EXTERNAL-IP in `kubectl get svc`; curl answers on both ports from
// the lease holder; exactly that node's MAC answers ARP, and the client's
// neighbour table has it.
func TestWalkthrough(t *testing.T) {
	l := needLeaselb(t)
	ctx := context.Background()
	if err := l.Apply(ctx, lab.WalkthroughConfig()); err != nil {
		t.Fatal(err)
	}
	ips := createService(t, l, ServiceSpecFor("almighty", 8080, 8081), 1)
	vip := ips[0]
	if !inPool(vip) {
		t.Fatalf("EXTERNAL-IP %s is outside the pool %s", vip, lab.PoolV4)
	}
	out, err := l.Kubectl(ctx, "get", "svc", "almighty")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kubectl get svc almighty:\n%s", out)
	if !strings.Contains(out, vip) {
		t.Errorf("kubectl get svc does not show EXTERNAL-IP %s", vip)
	}
	from8080 := serving(t, l, vip, 8080)
	from8081 := serving(t, l, vip, 8081)
	h := holder(t, l, vip, "")
	if from8080 != h || from8081 != h {
		t.Errorf("curl answered from %s (8080) and %s (8081); lease holder is %s", from8080, from8081, h)
	}
	curl, err := l.Curl(ctx, vip, 8080)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("curl %s:8080 -> %s", vip, strings.TrimSpace(curl))
	oneMAC(t, l, vip, h)
	if mac := l.NeighMAC(ctx, vip); mac != l.Hosts[h].MAC {
		t.Errorf("client's ip neigh for %s: %q, want %s's %s", vip, mac, h, l.Hosts[h].MAC)
	}
}

// Scenario 2: a fixed IP through spec.loadBalancerIP is honoured; an IP
// outside every pool is refused with an Event that names it.
func TestFixedIP(t *testing.T) {
	l := needLeaselb(t)
	ctx := context.Background()
	ips := createService(t, l, lab.ServiceSpec{Name: "sample-lb-fixip", Ports: []int32{8080}, LoadBalancerIP: "192.0.2.195"}, 1)
	if ips[0] != "192.0.2.195" {
		t.Fatalf("EXTERNAL-IP %s, want the requested 192.0.2.195", ips[0])
	}
	h := holder(t, l, ips[0], "")
	if from := serving(t, l, ips[0], 8080); from != h {
		t.Errorf("curl answered from %s, lease holder is %s", from, h)
	}
	oneMAC(t, l, ips[0], h)

	if err := l.CreateService(ctx, lab.ServiceSpec{Name: "outside-pool", Ports: []int32{8080}, LoadBalancerIP: "192.0.2.50"}); err != nil {
		t.Fatal(err)
	}
	var events []string
	err := lab.Eventually(ctx, settle, 250*time.Millisecond, func() (bool, string) {
		events = l.Events(ctx, "outside-pool")
		for _, e := range events {
			if strings.HasPrefix(e, "AllocationFailed") && strings.Contains(e, "192.0.2.50") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("events %q, want AllocationFailed naming 192.0.2.50", events)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("events on outside-pool: %q", events)
	if got, _ := l.IngressIPs(ctx, "outside-pool"); len(got) != 0 {
		t.Errorf("outside-pool got ingress %v, want none", got)
	}
}

// Scenario 3a: the holder fails (link down, speaker and kube-proxy killed);
// traffic moves to another node. The gap is logged, not asserted.
func TestNodeFailure(t *testing.T) {
	l := needLeaselb(t)
	ctx := context.Background()
	vip := createService(t, l, ServiceSpecFor("failover", 8080), 1)[0]
	serving(t, l, vip, 8080)
	old := holder(t, l, vip, "")
	probe := l.StartProbe(vip, 8080, 50*time.Millisecond, time.Second)
	time.Sleep(500 * time.Millisecond)
	failedAt, err := l.FailNode(ctx, old)
	if err != nil {
		probe.Stop()
		t.Fatal(err)
	}
	err = lab.Eventually(ctx, failover, 100*time.Millisecond, func() (bool, string) {
		_, _, ok := lab.Gap(probe.Samples(), failedAt, old)
		return ok, "no answer from a successor yet"
	})
	time.Sleep(300 * time.Millisecond)
	samples := probe.Stop()
	if err != nil {
		t.Fatalf("traffic never moved off failed node %s: %v", old, err)
	}
	gap, successor, _ := lab.Gap(samples, failedAt, old)
	t.Logf("node failure of %s: traffic restored on %s after %s (probe every 50ms)", old, successor, gap.Round(time.Millisecond))
	if h := holder(t, l, vip, old); h != successor {
		t.Errorf("lease holder %s, but %s answered", h, successor)
	}
	oneMAC(t, l, vip, successor)
}

// Scenario 3b: the holder's speaker stops gracefully (SIGTERM); it releases
// and the successor announces at once. The gap is logged, not asserted.
func TestGracefulHandover(t *testing.T) {
	l := needLeaselb(t)
	ctx := context.Background()
	vip := createService(t, l, ServiceSpecFor("handover", 8080), 1)[0]
	serving(t, l, vip, 8080)
	old := holder(t, l, vip, "")
	probe := l.StartProbe(vip, 8080, 50*time.Millisecond, time.Second)
	time.Sleep(500 * time.Millisecond)
	stoppedAt := l.StopSpeaker(old, 10*time.Second)
	err := lab.Eventually(ctx, failover, 100*time.Millisecond, func() (bool, string) {
		_, _, ok := lab.Gap(probe.Samples(), stoppedAt, old)
		return ok, "no answer from a successor yet"
	})
	time.Sleep(300 * time.Millisecond)
	samples := probe.Stop()
	if err != nil {
		t.Fatalf("traffic never moved off %s after SIGTERM of its speaker: %v", old, err)
	}
	gap, successor, _ := lab.Gap(samples, stoppedAt, old)
	t.Logf("graceful stop of %s's speaker: traffic on %s after %s (probe every 50ms)", old, successor, gap.Round(time.Millisecond))
	if h := holder(t, l, vip, old); h != successor {
		t.Errorf("lease holder %s, but %s answered", h, successor)
	}
	oneMAC(t, l, vip, successor)
	if p := l.Proc("speaker-" + old); p != nil && !p.Exited() {
		t.Errorf("speaker on %s still running after SIGTERM", old)
	}
}

// Scenario 6: an IPv6 Service answers NDP from one node and serves curl
// over IPv6; a dual-stack Service's two IPs are one group, announced and
// served from the same node.
func TestIPv6AndDualStack(t *testing.T) {
	l := needLeaselb(t)
	v6 := createService(t, l, lab.ServiceSpec{Name: "v6", Ports: []int32{8080}, Families: "v6"}, 1)[0]
	if !strings.Contains(v6, ":") || !inPool(v6) {
		t.Fatalf("IPv6 Service got %s, want an address from %s", v6, lab.PoolV6)
	}
	h := holder(t, l, v6, "")
	if from := serving(t, l, v6, 8080); from != h {
		t.Errorf("curl [%s]:8080 answered from %s, lease holder is %s", v6, from, h)
	}
	oneMAC(t, l, v6, h)

	ips := createService(t, l, lab.ServiceSpec{Name: "dual", Ports: []int32{9090}, Families: "dual"}, 2)
	var v4ip, v6ip string
	for _, ip := range ips {
		if strings.Contains(ip, ":") {
			v6ip = ip
		} else {
			v4ip = ip
		}
	}
	if v4ip == "" || v6ip == "" {
		t.Fatalf("dual-stack Service got %v, want one IPv4 and one IPv6", ips)
	}
	// The group is named after its lowest IP, the IPv4 one.
	dh := holder(t, l, v4ip, "")
	from4 := serving(t, l, v4ip, 9090)
	from6 := serving(t, l, v6ip, 9090)
	if from4 != dh || from6 != dh {
		t.Errorf("dual-stack: IPv4 answered from %s, IPv6 from %s; holder %s", from4, from6, dh)
	}
	oneMAC(t, l, v4ip, dh)
	oneMAC(t, l, v6ip, dh)
	out, _ := lab.NetnsExec(context.Background(), l.Hosts["client"].NS, "ping", "-6", "-c", "1", "-W", "2", v6ip)
	t.Logf("ping -6 %s: %s", v6ip, firstLine(out, "bytes from"))
}

func inPool(ip string) bool {
	a := net.ParseIP(ip)
	for _, r := range []string{lab.PoolV4, lab.PoolV6} {
		lo, hi, _ := strings.Cut(r, "-")
		if between(a, net.ParseIP(lo), net.ParseIP(hi)) {
			return true
		}
	}
	return false
}

func between(a, lo, hi net.IP) bool {
	a16, lo16, hi16 := a.To16(), lo.To16(), hi.To16()
	if a16 == nil {
		return false
	}
	return string(a16) >= string(lo16) && string(a16) <= string(hi16)
}

func firstLine(out, containing string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, containing) {
			return line
		}
	}
	return strings.TrimSpace(out)
}
