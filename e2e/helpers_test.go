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

// Generous limits: the machine may be slow and shared. Nothing asserts a
// duration; these only bound how long a scenario waits for a state.
const (
	settle   = 60 * time.Second
	failover = 60 * time.Second
)

// ServiceSpecFor is a Service with the given TCP ports.
func ServiceSpecFor(name string, ports ...int32) lab.ServiceSpec {
	return lab.ServiceSpec{Name: name, Ports: ports}
}

// createService creates the Service and waits for n ingress IPs.
func createService(t *testing.T, l *lab.Lab, s lab.ServiceSpec, n int) []string {
	t.Helper()
	ctx := context.Background()
	if err := l.CreateService(ctx, s); err != nil {
		t.Fatalf("create Service %s: %v", s.Name, err)
	}
	ips, err := l.WaitIngress(ctx, s.Name, n, settle)
	if err != nil {
		t.Fatalf("Service %s got no EXTERNAL-IP: %v; events: %v", s.Name, err, l.Events(ctx, s.Name))
	}
	return ips
}

// serving waits until ip:port answers from the client and returns the node
// that answered.
func serving(t *testing.T, l *lab.Lab, ip string, port int) string {
	t.Helper()
	ctx := context.Background()
	var from string
	err := lab.Eventually(ctx, settle, 250*time.Millisecond, func() (bool, string) {
		var err error
		from, err = l.HTTPGet(ctx, ip, port, 2*time.Second)
		return err == nil, fmt.Sprintf("GET %s: %v (lease holder %q)", net.JoinHostPort(ip, fmt.Sprint(port)), err, l.Holder(ctx, ip))
	})
	if err != nil {
		t.Fatalf("VIP never answered: %v", err)
	}
	return from
}

// holder waits for the VIP lease of ip's group to have a holder and
// returns it; with not set, a holder other than not.
func holder(t *testing.T, l *lab.Lab, ip, not string) string {
	t.Helper()
	ctx := context.Background()
	var h string
	err := lab.Eventually(ctx, failover, 200*time.Millisecond, func() (bool, string) {
		h = l.Holder(ctx, ip)
		return h != "" && h != not, fmt.Sprintf("lease %s holder %q", lab.GroupName(ip), h)
	})
	if err != nil {
		t.Fatalf("no holder: %v", err)
	}
	return h
}

// macsFor asks the network who has ip: ARP for IPv4, NDP for IPv6.
func macsFor(l *lab.Lab, ip string) []string {
	ctx := context.Background()
	if strings.Contains(ip, ":") {
		m, _ := l.NDPMACs(ctx, ip)
		return m
	}
	m, _ := l.ARPMACs(ctx, ip, 2)
	return m
}

// oneMAC waits until exactly one MAC answers for ip, that of want (a node
// name), and fails otherwise.
func oneMAC(t *testing.T, l *lab.Lab, ip, want string) {
	t.Helper()
	ctx := context.Background()
	var macs []string
	err := lab.Eventually(ctx, settle, 500*time.Millisecond, func() (bool, string) {
		macs = macsFor(l, ip)
		return len(macs) == 1 && l.NodeByMAC(macs[0]) == want, fmt.Sprintf("MACs answering for %s: %v (%s), want only %s's %s", ip, macs, nodesOf(l, macs), want, l.Hosts[want].MAC)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// noMAC waits until nobody answers for ip.
func noMAC(t *testing.T, l *lab.Lab, ip string) {
	t.Helper()
	var macs []string
	err := lab.Eventually(context.Background(), settle, 500*time.Millisecond, func() (bool, string) {
		macs = macsFor(l, ip)
		return len(macs) == 0, fmt.Sprintf("MACs answering for %s: %v (%s), want none", ip, macs, nodesOf(l, macs))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func nodesOf(l *lab.Lab, macs []string) string {
	var names []string
	for _, m := range macs {
		names = append(names, l.NodeByMAC(m))
	}
	return strings.Join(names, ",")
}

// otherNode returns a node name other than those given.
func otherNode(l *lab.Lab, not ...string) string {
	for _, n := range l.Nodes {
		skip := false
		for _, x := range not {
			skip = skip || n.Name == x
		}
		if !skip {
			return n.Name
		}
	}
	return ""
}
