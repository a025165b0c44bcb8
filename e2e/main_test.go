//go:build e2e

package e2e

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

// The lab shared by every scenario: starting it takes seconds, and the
// scenarios clean up their Services after themselves.
var (
	theLab   *lab.Lab
	labErr   error
	notRoot  bool
	labStart time.Time
)

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
		prefix = "lle-"
	}
	// Ctrl-C or a CI timeout: tear down, then exit.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "e2e: signal: tearing the lab down")
		theLab.Close()
		lab.Cleanup(prefix, "")
		os.Exit(1)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	labStart = time.Now()
	theLab, labErr = lab.Start(ctx, lab.Options{
		Prefix: prefix,
		Root:   root,
		Logf: func(format string, args ...any) {
			fmt.Printf("%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
		},
		SpeakerArgs:    []string{"--log-level=debug"},
		ControllerArgs: []string{"--log-level=debug"},
	})
	if labErr == nil {
		// Every scenario starts from the walkthrough's pool and advertisement.
		labErr = theLab.Apply(ctx, lab.WalkthroughConfig())
	}
	cancel()
	if labErr == nil {
		fmt.Printf("e2e: lab up in %s; RBAC from %s; logs in %s\n", time.Since(labStart).Round(time.Millisecond), theLab.RBACSource, theLab.LogDir())
	}
	code := m.Run()
	theLab.Close()
	os.Exit(code)
}

// needLab returns the shared lab, skipping without root and failing when
// the lab could not start. On failure it prints the tail of every
// component's log; at the end it puts the lab back as it was.
func needLab(t *testing.T) *lab.Lab {
	t.Helper()
	if notRoot {
		t.Skip("needs root: the lab makes network namespaces, veths and raw sockets; run `sudo make e2e`")
	}
	if labErr != nil {
		t.Fatalf("lab did not start: %v", labErr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, theLab)
		}
		restore(t, theLab)
	})
	return theLab
}

// needLeaselb is needLab plus a check that the speakers and the controller
// are running.
func needLeaselb(t *testing.T) *lab.Lab {
	t.Helper()
	l := needLab(t)
	for _, name := range []string{"controller", "speaker-node-a", "speaker-node-b", "speaker-node-c"} {
		p := l.Proc(name)
		if p == nil || !p.Exited() {
			continue
		}
		// Until the speaker lands, its stub says so; that is not a lab failure.
		if data, _ := os.ReadFile(p.LogFile); strings.Contains(string(data), "not built yet") {
			t.Skipf("%s: `leaselb %s` is not built yet (stub); scenario skipped", name, strings.Split(name, "-")[0])
		}
		t.Fatalf("%s exited: see %s", name, p.LogFile)
	}
	return l
}

// restore deletes the scenario's Services, puts back the walkthrough's pool
// and advertisement, heals cut or failed nodes and restarts stopped parts,
// so the next scenario starts from the same lab.
func restore(t *testing.T, l *lab.Lab) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := l.RestoreAPI(); err != nil {
		t.Errorf("restore: the API server's link: %v", err)
	}
	l.UndelayAPI()
	if p := l.Proc("kube-apiserver"); p != nil && p.Exited() {
		if err := l.StartAPIServer(); err != nil {
			t.Errorf("restore: %v", err)
		}
		_ = l.WaitAPIServer(ctx, time.Minute)
	}
	for _, n := range l.Nodes {
		_ = l.HealFromAPI(ctx, n.Name)
		if err := l.RecoverNode(ctx, n.Name); err != nil {
			t.Errorf("restore %s: %v", n.Name, err)
		}
		_, _ = l.Kubectl(ctx, "label", "node", n.Name, "node.kubernetes.io/exclude-from-external-load-balancers-")
	}
	if p := l.Proc("controller"); p != nil && p.Exited() {
		_ = l.StartController()
	}
	if err := l.DeleteAllServices(ctx); err != nil {
		t.Errorf("restore: delete Services: %v", err)
	}
	if err := l.Apply(ctx, lab.WalkthroughConfig()); err != nil {
		t.Errorf("restore: walkthrough config: %v", err)
	}
	// Wait for the speakers to drop the groups of the deleted Services, so
	// the next scenario's first IP starts from a clean slate.
	start := time.Now()
	if err := lab.Eventually(ctx, 30*time.Second, 250*time.Millisecond, func() (bool, string) {
		n := l.VIPLeases(ctx)
		return n == 0, fmt.Sprintf("%d VIP leases left", n)
	}); err != nil {
		out, _ := l.Kubectl(ctx, "get", "leases", "-n", lab.Namespace, "-l", "leaselb.io/role=vip")
		t.Logf("restore: VIP leases of deleted Services not garbage-collected: %v\n%s", err, out)
	} else {
		t.Logf("restore: VIP leases gone %s after the Services were deleted", time.Since(start).Round(time.Millisecond))
	}
	for _, ip := range []string{"192.0.2.190", "192.0.2.191", "192.0.2.192", "192.0.2.195", "2001:db8::190", "2001:db8::191"} {
		l.FlushNeigh(ctx, ip)
	}
}

// dumpLogs shows the end of the lab's logs after a failed scenario: the
// Kubernetes parts first and leaselb's last, without its debug lines (lease
// renewals), so the tail of a CI log shows what leaselb said.
func dumpLogs(t *testing.T, l *lab.Lab) {
	for _, name := range []string{"kube-apiserver", "proxy-node-a", "controller", "speaker-node-a", "speaker-node-b", "speaker-node-c"} {
		p := l.Proc(name)
		if p == nil {
			continue
		}
		data, _ := os.ReadFile(p.LogFile)
		var lines []string
		for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
			if !strings.Contains(line, `"level":"debug"`) {
				lines = append(lines, line)
			}
		}
		n := 30
		if strings.HasPrefix(name, "speaker") || name == "controller" {
			n = 12
		}
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		t.Logf("---- last lines of %s (%s):\n%s", name, p.LogFile, strings.Join(lines, "\n"))
	}
}
