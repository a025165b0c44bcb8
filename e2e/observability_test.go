//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leaselb/leaselb/e2e/lab"
	"github.com/leaselb/leaselb/internal/doctor"
	"github.com/leaselb/leaselb/internal/metricsdoc"
)

// doctorRun runs `leaselb doctor -o json` from the client namespace with the
// admin kubeconfig, as a person would from their workstation, and returns
// its report and exit status.
func doctorRun(t *testing.T, l *lab.Lab) (doctor.Report, int) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", l.Hosts["client"].NS, l.Bin("leaselb"), "doctor",
		"--kubeconfig", l.AdminKubeconfig(), "-o", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("doctor: %v", err)
	}
	var r doctor.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("doctor exit %d, output is no report (%v):\n%s\nstderr:\n%s", code, err, out, stderr.String())
	}
	return r, code
}

// failures returns the fail findings of the named check.
func failures(r doctor.Report, check string) []doctor.Finding {
	var out []doctor.Finding
	for _, f := range r.Findings {
		if f.Check == check && f.Severity == doctor.Fail {
			out = append(out, f)
		}
	}
	return out
}

// Issue 6: leaselb doctor against the lab's real API server, with a good
// configuration and three broken ones, each of which it must name with its
// fix and a non-zero exit status.
func TestDoctor(t *testing.T) {
	l := needLeaselb(t)
	ctx := context.Background()
	kubeProxy := func(strict bool) string {
		return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: kube-proxy
  namespace: kube-system
data:
  config.conf: |
    apiVersion: kubeproxy.config.k8s.io/v1alpha1
    kind: KubeProxyConfiguration
    mode: ipvs
    ipvs:
      strictARP: %t
`, strict)
	}
	t.Cleanup(func() {
		_, _ = l.Kubectl(ctx, "delete", "configmap", "-n", "kube-system", "kube-proxy", "--ignore-not-found")
		_, _ = l.Kubectl(ctx, "delete", "ipaddresspool,l2advertisement", "-n", lab.Namespace, "far", "--ignore-not-found")
	})
	// The checks this test breaks one at a time; the others (controller
	// Deployment, speaker Pods) see a lab that runs processes, not Pods.
	watched := []string{"kube-proxy", "crds", "pool-subnet", "advertisements"}

	tests := []struct {
		name      string
		setup     string // YAML to apply
		delete    []string
		wantCheck string // the check that must fail; "" means none of the watched ones may
		wantFix   string
	}{
		{name: "good: strictARP on, walkthrough pool and advertisement", setup: kubeProxy(true)},
		{name: "strictARP off", setup: kubeProxy(false), wantCheck: "kube-proxy", wantFix: `s/strictARP: false/strictARP: true/`},
		{name: "pool outside every node subnet", setup: fmt.Sprintf(`apiVersion: leaselb.io/v1alpha1
kind: IPAddressPool
metadata: {name: far, namespace: %s}
spec:
  addresses: [203.0.113.100-203.0.113.110]
  autoAssign: false
---
apiVersion: leaselb.io/v1alpha1
kind: L2Advertisement
metadata: {name: far, namespace: %s}
spec:
  ipAddressPools: [far]
`, lab.Namespace, lab.Namespace), wantCheck: "pool-subnet"},
		{name: "no advertisement", delete: []string{"l2advertisement", "-n", lab.Namespace, "mt-network-l2"}, wantCheck: "advertisements"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != "" {
				if err := l.Apply(ctx, tt.setup); err != nil {
					t.Fatal(err)
				}
			}
			if tt.delete != nil {
				if _, err := l.Kubectl(ctx, append([]string{"delete"}, tt.delete...)...); err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := l.Apply(ctx, lab.WalkthroughConfig()); err != nil {
						t.Error(err)
					}
				}()
			}
			r, code := doctorRun(t, l)
			t.Logf("doctor: exit %d, status %s, %v", code, r.Status, r.Counts)
			for _, check := range watched {
				fails := failures(r, check)
				switch {
				case check == tt.wantCheck && len(fails) == 0:
					t.Errorf("doctor did not report %s; findings: %+v", check, r.Findings)
				case check == tt.wantCheck && !strings.Contains(fails[0].Fix, tt.wantFix):
					t.Errorf("%s fix %q, want it to contain %q", check, fails[0].Fix, tt.wantFix)
				case check != tt.wantCheck && len(fails) > 0:
					t.Errorf("doctor reported %s on a lab where it holds: %+v", check, fails)
				}
			}
			if tt.wantCheck != "" && code != 1 {
				t.Errorf("exit status %d with a broken configuration, want 1", code)
			}
			if tt.wantCheck != "" {
				// Put the broken piece right for the next case.
				switch tt.wantCheck {
				case "kube-proxy":
					_ = l.Apply(ctx, kubeProxy(true))
				case "pool-subnet":
					_, _ = l.Kubectl(ctx, "delete", "ipaddresspool,l2advertisement", "-n", lab.Namespace, "far")
				}
			}
		})
	}
}

// Issue 6: every leaselb_ metric the running controller and speakers serve
// is in docs/metrics.md with the documented type, and the ones every
// deployment has are there.
func TestMetricsMatchTheDocument(t *testing.T) {
	l := needLeaselb(t)
	ctx := context.Background()
	root, err := lab.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := metricsdoc.Parse(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// A Service, so the speakers and the allocator have used their
	// labelled metrics too.
	ip := createService(t, l, ServiceSpecFor("metrics", 8080), 1)[0]
	serving(t, l, ip, 8080)
	scrapes := []struct {
		host, port string
		want       []string
	}{
		{"control", "7472", []string{"leaselb_controller_is_leader", "leaselb_allocator_addresses_total"}},
		{"node-a", "7474", []string{"leaselb_speaker_groups_held", "leaselb_election_api_writes_total"}},
		{"node-b", "7474", []string{"leaselb_speaker_groups_held"}},
	}
	for _, s := range scrapes {
		h := l.Hosts[s.host]
		url := fmt.Sprintf("http://%s:%s/metrics", h.IPv4, s.port)
		out, err := lab.NetnsExec(ctx, l.Hosts["client"].NS, "curl", "-sf", "--max-time", "5", url)
		if err != nil {
			t.Errorf("scrape %s: %v", url, err)
			continue
		}
		scraped, err := metricsdoc.ParseScrape(strings.NewReader(out))
		if err != nil {
			t.Errorf("scrape %s: %v", url, err)
			continue
		}
		for _, e := range metricsdoc.CompareScrape(doc, scraped) {
			t.Errorf("%s: %v", url, e)
		}
		for _, name := range s.want {
			if _, ok := scraped[name]; !ok {
				t.Errorf("%s does not serve %s", url, name)
			}
		}
		n := 0
		for name := range scraped {
			if strings.HasPrefix(name, "leaselb_") {
				n++
			}
		}
		t.Logf("%s: %d leaselb_ metric families served, checked against docs/metrics.md", url, n)
	}
}
