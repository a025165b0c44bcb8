//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/leaselb/leaselb/e2e/lab"
)

// TestLab checks the lab itself, with or without leaselb: Nodes registered
// and Ready, components' tokens carry their own ServiceAccounts and no more,
// and each node's kube-proxy stand-in serves a Service port on its address.
func TestLab(t *testing.T) {
	l := needLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	nodes, err := l.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 3 {
		t.Errorf("Nodes: got %d, want 3", len(nodes.Items))
	}
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
		}
		if !ready || len(n.Status.Addresses) < 2 {
			t.Errorf("Node %s: ready=%v addresses=%v", n.Name, ready, n.Status.Addresses)
		}
	}

	// Each component's kubeconfig holds its own ServiceAccount's token.
	for _, tc := range []struct{ sa, ns string }{{"controller", "control"}, {"speaker", "node-a"}} {
		out, err := lab.NetnsExec(ctx, l.Hosts[tc.ns].NS, l.Bin("kubectl"), "--kubeconfig", l.ComponentKubeconfig(tc.sa), "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
		if err != nil {
			t.Fatalf("%s token: %v", tc.sa, err)
		}
		if want := "system:serviceaccount:leaselb-system:" + tc.sa; strings.TrimSpace(out) != want {
			t.Errorf("%s token is for %q, want %q", tc.sa, out, want)
		}
		// Least privilege: no Secrets for anyone.
		out, _ = lab.NetnsExec(ctx, l.Hosts[tc.ns].NS, l.Bin("kubectl"), "--kubeconfig", l.ComponentKubeconfig(tc.sa), "auth", "can-i", "list", "secrets", "-A")
		if strings.TrimSpace(out) != "no" {
			t.Errorf("%s may list Secrets (%q); the manifests must not grant that", tc.sa, out)
		}
	}

	// The client's tools see each node on the wire: the raw ARP socket and
	// ndisc6 find exactly the node's MAC for its own addresses.
	w, err := l.OpenARP()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, n := range l.Nodes {
		macs, err := w.WhoHas(n.IPv4.String(), 500*time.Millisecond)
		if err != nil || len(macs) != 1 || macs[0] != n.MAC {
			t.Errorf("ARP for %s: %v %v, want [%s]", n.IPv4, macs, err, n.MAC)
		}
		if macs, _ := l.NDPMACs(ctx, n.IPv6.String()); len(macs) != 1 || macs[0] != n.MAC {
			t.Errorf("NDP for %s: %v, want [%s]", n.IPv6, macs, n.MAC)
		}
	}

	// The kube-proxy stand-in serves Service ports on every node.
	if err := l.CreateService(ctx, ServiceSpecFor("lab-check", 18080)); err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes {
		var from string
		err := lab.Eventually(ctx, 30*time.Second, 200*time.Millisecond, func() (bool, string) {
			var err error
			from, err = l.HTTPGet(ctx, n.IPv4.String(), 18080, 2*time.Second)
			return err == nil, "GET " + n.IPv4.String() + ":18080: " + errString(err)
		})
		if err != nil {
			t.Errorf("kube-proxy stand-in on %s: %v", n.Name, err)
		} else if from != n.Name {
			t.Errorf("GET %s:18080 answered From=%s, want %s", n.IPv4, from, n.Name)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
