//go:build e2e

// Package realnodes runs leaselb as its users do: the image built by `make
// lab-images`, installed with `kubectl apply -k` from the manifests, on three
// real nodes (kubelet, containerd with runc, kube-proxy in nftables mode)
// with kube-controller-manager and kube-scheduler, and the walkthrough's app
// as real pods. The faster scenarios on stand-in nodes live in package e2e.
package realnodes

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leaselb/leaselb/e2e/lab"
)

var (
	theLab  *lab.Lab
	labErr  error
	notRoot bool
)

// The walkthrough's app: three replicas, one per node.
const app = "echo"

// Generous bounds for waits on a slow, shared machine; durations that are
// figures are logged, and asserted only where the scenario is about them.
const settle = 90 * time.Second

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		notRoot = true
		os.Exit(m.Run())
	}
	root, err := lab.FindRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	prefix := os.Getenv("LAB_PREFIX")
	if prefix == "" {
		prefix = "llk-"
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "realnodes: signal: tearing the lab down")
		theLab.Close()
		lab.Cleanup(prefix, "")
		os.Exit(1)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	start := time.Now()
	theLab, labErr = lab.Start(ctx, lab.Options{
		Prefix:   prefix,
		Root:     root,
		Kubelets: true,
		Logf: func(format string, args ...any) {
			fmt.Printf("%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
		},
	})
	if labErr == nil {
		labErr = theLab.Apply(ctx, lab.WalkthroughConfig())
	}
	if labErr == nil {
		labErr = theLab.Apply(ctx, lab.EchoApp(app, 3, ""))
	}
	if labErr == nil {
		labErr = theLab.WaitDeployment(ctx, app, 3*time.Minute)
	}
	cancel()
	if labErr == nil {
		fmt.Printf("realnodes: cluster up in %s; leaselb from %s; logs in %s\n", time.Since(start).Round(time.Millisecond), theLab.RBACSource, theLab.LogDir())
	} else {
		fmt.Printf("realnodes: the cluster did not come up: %v\n", labErr)
	}
	code := m.Run()
	theLab.Close()
	os.Exit(code)
}

// needCluster returns the shared cluster, skipping without root and
// failing when it could not start. At the end it puts the cluster back:
// nodes recovered and uncordoned, Services and extra apps deleted, the
// walkthrough's configuration applied, leaselb rolled out.
func needCluster(t *testing.T) *lab.Lab {
	t.Helper()
	if notRoot {
		t.Skip("needs root: the lab makes network namespaces, cgroups, mounts and runs kubelets; run `sudo make e2e`")
	}
	if labErr != nil {
		t.Fatalf("cluster did not start: %v", labErr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, theLab)
		}
		restore(t, theLab)
	})
	return theLab
}

func restore(t *testing.T, l *lab.Lab) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, n := range l.Nodes {
		if err := l.RecoverRealNode(ctx, n.Name); err != nil {
			t.Errorf("restore %s: %v", n.Name, err)
		}
		_, _ = l.Kubectl(ctx, "uncordon", n.Name)
	}
	if err := l.DeleteAllServices(ctx); err != nil {
		t.Errorf("restore: delete Services: %v", err)
	}
	_, _ = l.Kubectl(ctx, "-n", "default", "delete", "deployment", "--field-selector", "metadata.name!="+app, "--wait=false")
	if err := l.InstallLeaselb(ctx); err != nil {
		t.Errorf("restore: %v", err)
	}
	if err := l.Apply(ctx, lab.WalkthroughConfig()); err != nil {
		t.Errorf("restore: walkthrough config: %v", err)
	}
	if err := l.Apply(ctx, lab.EchoApp(app, 3, "")); err != nil {
		t.Errorf("restore: %v", err)
	}
	if err := l.WaitDeployment(ctx, app, 3*time.Minute); err != nil {
		t.Errorf("restore: %v", err)
	}
	if err := lab.Eventually(ctx, time.Minute, 250*time.Millisecond, func() (bool, string) {
		n := l.VIPLeases(ctx)
		return n == 0, fmt.Sprintf("%d VIP leases left", n)
	}); err != nil {
		t.Errorf("restore: VIP leases of deleted Services not removed: %v", err)
	}
	// The next scenario's Service may get the same IP: let the client ask
	// the network afresh.
	for _, ip := range []string{"192.0.2.190", "192.0.2.191", "2001:db8::190", "2001:db8::191"} {
		l.FlushNeigh(ctx, ip)
	}
}

func dumpLogs(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	out, _ := l.Kubectl(ctx, "get", "pods", "-A", "-o", "wide")
	t.Logf("---- pods:\n%s", out)
	out, _ = l.Kubectl(ctx, "-n", lab.Namespace, "get", "leases")
	t.Logf("---- leases:\n%s", out)
	for _, sel := range []string{"app.kubernetes.io/component=speaker", "app.kubernetes.io/component=controller"} {
		out, _ = l.Kubectl(ctx, "-n", lab.Namespace, "logs", "-l", sel, "--tail=20", "--prefix")
		t.Logf("---- logs %s:\n%s", sel, out)
	}
	for _, name := range []string{"kube-apiserver", "kube-controller-manager"} {
		if p := l.Proc(name); p != nil {
			data, _ := os.ReadFile(p.LogFile)
			lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
			if len(lines) > 15 {
				lines = lines[len(lines)-15:]
			}
			t.Logf("---- last lines of %s:\n%s", name, strings.Join(lines, "\n"))
		}
	}
}
