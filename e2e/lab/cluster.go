package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// What scenarios on real nodes (Options.Kubelets) use: the walkthrough's
// app as a real Deployment, node failures that kill a node's runtime, and
// a look at leaselb's processes as the kernel sees them.

// EchoApp is a Deployment of the lab's echo server (it answers
// From=<pod name> on 8080 and 8081), replicas spread over the nodes, or
// all on one node when node is not "".
func EchoApp(name string, replicas int, node string) string {
	sel := ""
	if node != "" {
		sel = fmt.Sprintf("      nodeSelector:\n        kubernetes.io/hostname: %s\n", node)
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  namespace: default
spec:
  replicas: %[2]d
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
%[4]s      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: ScheduleAnyway
        labelSelector:
          matchLabels: {app: %[1]s}
      terminationGracePeriodSeconds: 2
      containers:
      - name: echo
        image: %[3]s
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        ports:
        - containerPort: 8080
        - containerPort: 8081
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
`, name, replicas, EchoImage, sel)
}

// WaitDeployment waits until the Deployment in default is rolled out.
func (l *Lab) WaitDeployment(ctx context.Context, name string, timeout time.Duration) error {
	_, err := l.Kubectl(ctx, "-n", "default", "rollout", "status", "deployment/"+name, "--timeout="+timeout.String())
	return err
}

// FailRealNode fails a real node the way a power cut does: both its links
// go down, then its kubelet, kube-proxy, containerd and every container are
// killed. It returns the moment the link went down.
func (l *Lab) FailRealNode(ctx context.Context, node string) (time.Time, error) {
	h := l.Hosts[node]
	if h == nil {
		return time.Time{}, fmt.Errorf("lab: no node %q", node)
	}
	at, err := l.linksDown(ctx, node, "eth0", "eth1")
	if err != nil {
		return at, err
	}
	l.StopNode(node)
	return at, nil
}

// RecoverRealNode brings a real node back as a freshly booted machine: links
// up, its runtime state wiped, containerd (images imported), kubelet and
// kube-proxy started, and the Node Ready again. A node that is running is
// left alone.
func (l *Lab) RecoverRealNode(ctx context.Context, node string) error {
	h := l.Hosts[node]
	for _, link := range []string{"eth0", "eth1"} {
		if err := ip(ctx, "-n", h.NS, "link", "set", link, "up"); err != nil {
			return err
		}
	}
	if err := l.nodeRoutes(ctx, node); err != nil {
		return err
	}
	if p := l.Proc("kubelet-" + node); p != nil && !p.Exited() {
		return nil
	}
	l.StopNode(node)
	l.wipeNode(node)
	if err := l.StartNode(ctx, node); err != nil {
		return err
	}
	return l.WaitNodesReady(ctx, 2*time.Minute)
}

// A LeaselbProcess is a leaselb process in a pod on a real node, as the
// kernel sees it.
type LeaselbProcess struct {
	PID int
	// Command is the subcommand: speaker or controller.
	Command string
	// Status is /proc/<pid>/status (Uid, CapEff, NoNewPrivs, ...).
	Status map[string]string
	// RootReadOnly reports whether the process's / is mounted read-only.
	RootReadOnly bool
	// Pod is the process's $POD_NAME.
	Pod string
}

// LeaselbProcesses finds the leaselb processes running in this lab's pods:
// those whose cgroup lies below the lab's node cgroups and whose command is
// the image's entrypoint.
func (l *Lab) LeaselbProcesses() ([]LeaselbProcess, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []LeaselbProcess
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(argv) < 2 || argv[0] != "/usr/local/bin/leaselb" {
			continue
		}
		cg, _ := os.ReadFile(filepath.Join(dir, "cgroup"))
		if !strings.Contains(string(cg), cgroupParent(l.opts.Prefix)+"/") {
			continue
		}
		p := LeaselbProcess{PID: pid, Command: argv[1], Status: map[string]string{}}
		status, _ := os.ReadFile(filepath.Join(dir, "status"))
		for _, line := range strings.Split(string(status), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				p.Status[k] = strings.Join(strings.Fields(v), " ")
			}
		}
		environ, _ := os.ReadFile(filepath.Join(dir, "environ"))
		for _, kv := range strings.Split(string(environ), "\x00") {
			if v, ok := strings.CutPrefix(kv, "POD_NAME="); ok {
				p.Pod = v
			}
		}
		mounts, _ := os.ReadFile(filepath.Join(dir, "mountinfo"))
		for _, line := range strings.Split(string(mounts), "\n") {
			// id parent major:minor root mountpoint options ...
			f := strings.Fields(line)
			if len(f) > 5 && f[4] == "/" {
				p.RootReadOnly = strings.HasPrefix(f[5], "ro")
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// SpeakerPod returns the name of the speaker pod on node ("" when none).
func (l *Lab) SpeakerPod(ctx context.Context, node string) string {
	pods, err := l.Client.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/component=speaker",
		FieldSelector: "spec.nodeName=" + node,
	})
	if err != nil {
		return ""
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			return p.Name
		}
	}
	return ""
}

// ControllerLeader returns the holder of the controller's leader-election
// Lease: the leading replica's pod name.
func (l *Lab) ControllerLeader(ctx context.Context) string {
	lease, err := l.Client.CoordinationV1().Leases(Namespace).Get(ctx, "leaselb-controller", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// ReadyEndpointsOn counts the ready endpoints of the Service (in default)
// that run on node, per its EndpointSlices.
func (l *Lab) ReadyEndpointsOn(ctx context.Context, svc, node string) int {
	slices, err := l.Client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc,
	})
	if err != nil {
		return -1
	}
	n := 0
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.NodeName != nil && *e.NodeName == node && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
				n++
			}
		}
	}
	return n
}
