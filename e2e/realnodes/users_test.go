//go:build e2e

package realnodes

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/leaselb/leaselb/e2e/lab"
)

// TestHelmInstall: leaselb installed with its Helm chart (Helm's own Go
// library, `bin/chart install`, as `helm install` does) instead of the
// manifest runs the walkthrough: the workloads become Ready, a Service gets
// an IP that one node answers for, and curl reaches the app.
func TestHelmInstall(t *testing.T) {
	l := needCluster(t)
	ctx := context.Background()
	if err := l.UninstallLeaselb(ctx); err != nil {
		t.Fatal(err)
	}
	// Helm keeps its release record in the namespace, so the namespace (with
	// its Pod Security labels) comes first, as the chart's README says.
	if _, err := l.Kubectl(ctx, "apply", "-f", filepath.Join(l.Root(), "manifests", "namespace.yaml")); err != nil {
		t.Fatal(err)
	}
	chart := filepath.Join(l.Root(), "charts", "leaselb")
	out, err := lab.NetnsExec(ctx, l.Hosts["client"].NS, l.Bin("chart"), "install", "--kubeconfig", l.AdminKubeconfig(),
		"--set", "image.repository=leaselb.lab/leaselb", "--set", "image.tag=dev", chart)
	t.Logf("chart install: %s", out)
	t.Cleanup(func() {
		out, err := lab.NetnsExec(context.Background(), l.Hosts["client"].NS, l.Bin("chart"), "uninstall", "--kubeconfig", l.AdminKubeconfig())
		t.Logf("chart uninstall: %s %v", out, err)
		_ = l.UninstallLeaselb(context.Background())
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitLeaselbRollout(ctx, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := l.Apply(ctx, lab.WalkthroughConfig()); err != nil {
		t.Fatal(err)
	}
	vip := lbService(t, l, "helm-walkthrough")
	w, err := l.OpenARP()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	h, err := l.WaitHolder(ctx, vip, "", settle)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitOneMAC(ctx, w, vip, h, settle); err != nil {
		t.Fatal(err)
	}
	t.Logf("installed with the chart: %s answers for %s", h, vip)
}

// TestMigrationFromMetalLB follows docs/migrating-from-metallb.md on Services
// whose IPs MetalLB assigned (status written as MetalLB leaves it, IPs that
// are not the pool's first ones): convert MetalLB's configuration with
// `leaselb convert`, install leaselb with its controller stopped, create the
// converted pools, start the controller. Every Service keeps its IP, no
// IPChanged Event is sent, and one node answers for each IP.
func TestMigrationFromMetalLB(t *testing.T) {
	l := needCluster(t)
	ctx := context.Background()
	if err := l.UninstallLeaselb(ctx); err != nil {
		t.Fatal(err)
	}
	// What MetalLB left: LoadBalancer Services with IPs in their status.
	metallbIPs := map[string][]string{
		"web":  {"192.0.2.197"},
		"dual": {"192.0.2.193", "2001:db8::196"},
	}
	for name, ips := range metallbIPs {
		fam := ""
		if len(ips) == 2 {
			fam = "dual"
		}
		if err := l.CreateService(ctx, lab.ServiceSpec{Name: name, Ports: []int32{8080}, App: app, Families: fam,
			Annotations: map[string]string{"metallb.universe.tf/ip-allocated-from-pool": "first-pool"}}); err != nil {
			t.Fatal(err)
		}
		svc, err := l.Client.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ip := range ips {
			svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
		if _, err := l.Client.CoreV1().Services("default").UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Step 1: convert.
	// stdout is the leaselb objects; stderr says what was converted.
	convert := exec.CommandContext(ctx, l.Bin("leaselb"), "convert", "-f", filepath.Join("testdata", "metallb.yaml"))
	var stderr strings.Builder
	convert.Stderr = &stderr
	out, err := convert.Output()
	converted := string(out)
	t.Logf("leaselb convert -f testdata/metallb.yaml: %s", strings.TrimSpace(stderr.String()))
	if err != nil {
		t.Fatalf("leaselb convert: %v\n%s", err, converted)
	}
	// Step 2: install with the controller stopped (the guide's sed, on the
	// lab's rendering of the manifest).
	rendered, err := l.Kubectl(ctx, "kustomize", l.Overlay())
	if err != nil {
		t.Fatal(err)
	}
	stopped := strings.ReplaceAll(rendered, "\n  replicas: 2\n", "\n  replicas: 0\n")
	if stopped == rendered {
		t.Fatal("the rendered manifest has no `replicas: 2` line for the guide's sed to change")
	}
	if _, err := l.KubectlStdin(ctx, stopped, "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Kubectl(ctx, "-n", lab.Namespace, "rollout", "status", "daemonset/speaker", "--timeout=3m"); err != nil {
		t.Fatal(err)
	}
	// Step 5: the converted pools and advertisements.
	if err := l.Apply(ctx, converted); err != nil {
		t.Fatalf("apply the converted configuration: %v\n%s", err, converted)
	}
	w, err := l.OpenARP()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for name, ips := range metallbIPs {
		h, err := l.WaitHolder(ctx, ips[0], "", settle)
		if err != nil {
			t.Fatalf("Service %s: %v", name, err)
		}
		for _, ip := range ips {
			if err := l.WaitOneMAC(ctx, w, ip, h, settle); err != nil {
				t.Errorf("Service %s: %v", name, err)
			}
		}
	}
	// Step 6: start the controller; it adopts every IP.
	if _, err := l.Kubectl(ctx, "-n", lab.Namespace, "scale", "deployment", "controller", "--replicas=2"); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitLeaselbRollout(ctx, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	// A new Service gets its IP once the controller runs; by then it has
	// loaded every existing assignment.
	if err := l.CreateService(ctx, lab.ServiceSpec{Name: "new-after-migration", Ports: []int32{8080}, App: app}); err != nil {
		t.Fatal(err)
	}
	newIPs, err := l.WaitIngress(ctx, "new-after-migration", 1, settle)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range metallbIPs {
		got, err := l.IngressIPs(ctx, name)
		if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("Service %s: IPs %v (%v) after the migration, want MetalLB's %v", name, got, err, want)
		}
		for _, e := range l.Events(ctx, name) {
			if strings.HasPrefix(e, "IPChanged") {
				t.Errorf("Service %s: %s", name, e)
			}
		}
	}
	t.Logf("migrated: %v kept; a new Service got %v", metallbIPs, newIPs)
}
