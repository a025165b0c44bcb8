package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/leaselb/leaselb/e2e/lab"
)

const demoService = `apiVersion: v1
kind: Service
metadata:
  name: almighty
spec:
  type: LoadBalancer
  selector:
    app: echo
  ports:
    - name: myweb
      protocol: TCP
      port: 8080
      targetPort: 8080
    - name: yourweb
      protocol: TCP
      port: 8081
      targetPort: 8081
`

// demo replays the walkthrough on the lab's real cluster: leaselb
// installed from its manifests, pool and advertisement, an app and a
// two-port Service, kubectl get svc, curl, who owns the VIP, then the owner
// fails and the measured failover gap is printed.
func demo(ctx context.Context, root string) error {
	step("Starting the lab: a switch, a control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler), " +
		"nodes node-a/b/c (containerd, kubelet, kube-proxy) and a client, each in its own network namespace; " +
		"leaselb installed with kubectl apply -k (the install manifest, with the image built by make lab-images)")
	l, err := lab.Start(ctx, lab.Options{Prefix: "ll-", Root: root, Logf: logf, Kubelets: true})
	if err != nil {
		return err
	}
	defer func() {
		step("Tearing the lab down")
		l.Close()
	}()
	for _, n := range l.Nodes {
		fmt.Printf("    %-7s %-12s %-14s MAC %s\n", n.Name, n.IPv4, n.IPv6, n.MAC)
	}
	fmt.Printf("    client  %-12s %-14s MAC %s\n", l.Hosts["client"].IPv4, l.Hosts["client"].IPv6, l.Hosts["client"].MAC)
	step("kubectl get nodes; kubectl -n leaselb-system get pods")
	out, _ := l.Kubectl(ctx, "get", "nodes", "-o", "wide")
	fmt.Print(indent(out))
	out, _ = l.Kubectl(ctx, "-n", lab.Namespace, "get", "pods", "-o", "wide")
	fmt.Print(indent(out))

	step("kubectl apply -f my-network.yaml  (the walkthrough's pool and L2Advertisement, in documentation ranges)")
	fmt.Print(indent(lab.WalkthroughConfig()))
	if err := l.Apply(ctx, lab.WalkthroughConfig()); err != nil {
		return err
	}
	app := lab.EchoApp("echo", 3, "")
	step("kubectl apply -f echo.yaml  (the app: three pods of a small HTTP server that answers From=<pod name>)")
	fmt.Print(indent(app))
	if err := l.Apply(ctx, app); err != nil {
		return err
	}
	if err := l.WaitDeployment(ctx, "echo", 3*time.Minute); err != nil {
		return err
	}
	step("kubectl apply -f almighty.yaml  (a two-port LoadBalancer Service)")
	fmt.Print(indent(demoService))
	if err := l.Apply(ctx, demoService); err != nil {
		return err
	}
	ips, err := l.WaitIngress(ctx, "almighty", 1, time.Minute)
	if err != nil {
		return fmt.Errorf("the Service got no EXTERNAL-IP: %w (kubectl -n %s logs deploy/controller)", err, lab.Namespace)
	}
	vip := ips[0]
	step("kubectl get svc; kubectl get pods")
	out, _ = l.Kubectl(ctx, "get", "svc,pods", "-o", "wide")
	fmt.Print(indent(out))

	step(fmt.Sprintf("curl %s:8080 and :8081 from the client", vip))
	if err := lab.Eventually(ctx, time.Minute, 250*time.Millisecond, func() (bool, string) {
		_, err := l.HTTPGet(ctx, vip, 8080, 2*time.Second)
		return err == nil, fmt.Sprint(err)
	}); err != nil {
		return fmt.Errorf("the VIP never answered: %w (speaker logs in %s)", err, l.LogDir())
	}
	for _, port := range []int{8080, 8081} {
		out, err := l.Curl(ctx, vip, port)
		if err != nil {
			return err
		}
		fmt.Printf("    $ curl %s:%d\n    %s\n", vip, port, strings.TrimSpace(out))
	}

	owner, err := showOwner(ctx, l, vip)
	if err != nil {
		return err
	}

	step(fmt.Sprintf("Failing %s: link down; kubelet, containerd, kube-proxy and every pod on it killed (a power cut). Probing %s:8080 from the client every 50 ms", owner, vip))
	probe := l.StartProbe(vip, 8080, 50*time.Millisecond, time.Second)
	time.Sleep(time.Second)
	failedAt, err := l.FailRealNode(ctx, owner)
	if err != nil {
		probe.Stop()
		return err
	}
	err = lab.Eventually(ctx, time.Minute, 50*time.Millisecond, func() (bool, string) {
		_, _, ok := lab.Gap(probe.Samples(), failedAt, "")
		return ok, "no answer since the failure"
	})
	// Let the probe see the app answer steadily again, then measure the
	// longest a request waited for an answer.
	time.Sleep(2 * time.Second)
	samples := probe.Stop()
	if err != nil {
		return fmt.Errorf("traffic never moved off %s: %w", owner, err)
	}
	gap, _ := lab.LongestWait(samples)
	fmt.Printf("\n    >>> failover gap: %s (the longest a request waited for an answer) — %s is now held by %s <<<\n", gap.Round(time.Millisecond), vip, l.Holder(ctx, vip))
	fmt.Printf("    (node lease renewed every 500 ms, expires after 2 s; a holder silent on the wire is taken at 1.5 s; see make bench)\n")
	step(fmt.Sprintf("Until Kubernetes marks %s NotReady (node-monitor-grace-period, 20 s in the lab), its dead pod is still an endpoint of the Service, so kube-proxy sends some connections there: waiting for the EndpointSlice controller to drop it", owner))
	start := time.Now()
	if err := lab.Eventually(ctx, 2*time.Minute, 500*time.Millisecond, func() (bool, string) {
		n := l.ReadyEndpointsOn(ctx, "almighty", owner)
		return n == 0, fmt.Sprintf("%d ready endpoints on %s", n, owner)
	}); err != nil {
		return err
	}
	fmt.Printf("    dropped after %s\n", time.Since(start).Round(time.Second))
	for range 3 {
		out, _ = l.Curl(ctx, vip, 8080)
		fmt.Printf("    $ curl %s:8080\n    %s\n", vip, strings.TrimSpace(out))
	}
	if _, err := showOwner(ctx, l, vip); err != nil {
		return err
	}
	step("Done. Logs of every component are kept in " + l.LogDir())
	return nil
}

// showOwner prints the VIP's lease holder and the MAC the client's kernel
// learned for it.
func showOwner(ctx context.Context, l *lab.Lab, vip string) (string, error) {
	step("Who owns " + vip + "?")
	var owner string
	_ = lab.Eventually(ctx, 30*time.Second, 200*time.Millisecond, func() (bool, string) {
		owner = l.Holder(ctx, vip)
		return owner != "" && l.NeighMAC(ctx, vip) == l.Hosts[owner].MAC, ""
	})
	out, _ := l.Kubectl(ctx, "get", "leases", "-n", lab.Namespace, "-l", "leaselb.io/role=vip")
	fmt.Printf("    $ kubectl get leases -n %s -l leaselb.io/role=vip\n%s", lab.Namespace, indent(out))
	neigh, _ := lab.NetnsExec(ctx, l.Hosts["client"].NS, "ip", "neigh", "show", vip)
	mac := l.NeighMAC(ctx, vip)
	fmt.Printf("    $ ip neigh show %s   (on the client)\n    %s", vip, strings.TrimSpace(neigh))
	fmt.Printf("   -> %s is %s's eth0\n", mac, l.NodeByMAC(mac))
	if owner == "" {
		return "", fmt.Errorf("no node holds %s (speaker logs in %s)", vip, l.LogDir())
	}
	return owner, nil
}

// speakersRunning checks the stand-in lab's speakers and controller (make
// bench runs on stand-in nodes).
func speakersRunning(l *lab.Lab) error {
	for _, n := range l.Nodes {
		if p := l.Proc("speaker-" + n.Name); p == nil || p.Exited() {
			return fmt.Errorf("the speaker on %s exited at start: see %s", n.Name, p.LogFile)
		}
	}
	if p := l.Proc("controller"); p == nil || p.Exited() {
		return fmt.Errorf("the controller exited at start: see %s", p.LogFile)
	}
	return nil
}

func step(s string) { fmt.Printf("\n==> %s\n", s) }

func indent(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return b.String()
}
