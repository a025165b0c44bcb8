package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Real nodes (Options.Kubelets): each node namespace runs what a kubeadm
// node runs — containerd with runc, a kubelet and kube-proxy (nftables
// mode) — and the control namespace adds kube-controller-manager and
// kube-scheduler. Pods get addresses from the bridge and host-local CNI
// plugins, one pod range per node, routed between the hosts over the lab
// link.
//
// Isolation from the machine: containerd starts in a private mount
// namespace (`unshare --mount --propagation private`) that the kubelet then
// joins, so the kubelet's shared bind mounts, the overlay roots of
// containers and the tmpfs the lab puts over /run/netns, /run/containerd,
// /var/lib/cni and /var/log (pod network namespaces, shim sockets, CNI
// caches and /var/log/containers, all of which would otherwise be shared by
// every node and the host) exist only there and vanish with it. Every pod's
// cgroup sits below the node's cgroupRoot, under one parent per lab, which
// Close empties (killing what is left) and removes.

// The images every real node imports; the overlay in e2e/lab/overlay
// points the install manifest at LeaselbImage.
const (
	LeaselbImage = "leaselb.lab/leaselb:dev"
	EchoImage    = "leaselb.lab/echo:v1"
	PauseImage   = "leaselb.lab/pause:v1"
)

// labImages are the OCI archives `make lab-images` writes, by image.
var labImages = map[string]string{
	LeaselbImage: "leaselb.tar",
	EchoImage:    "echo.tar",
	PauseImage:   "pause.tar",
}

// The pod ranges: a /26 and a /64 per node, inside the documentation and
// test ranges the lab may use.
const (
	podCIDRv4 = "203.0.113.0/24"
	podCIDRv6 = "2001:db8:1::/48"
)

// PodCIDRs returns the node's pod ranges (IPv4, IPv6).
func (h *Host) PodCIDRs() (v4, v6 string) {
	id := int(h.IPv4[3])
	return fmt.Sprintf("203.0.113.%d/26", (id-11)*64), fmt.Sprintf("2001:db8:1:%d::/64", id)
}

// kubeletTunables are the kernel settings a kubelet with
// protectKernelDefaults insists on. The lab never lets a kubelet write them
// (this machine boots with panic=1, and they are machine-wide): it mounts
// files with these values over them in the node's private mount namespace,
// where only the kubelet reads them.
var kubeletTunables = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

// kubeletBins are the binaries a lab with real nodes needs besides the
// control plane.
var kubeletBins = []string{"kubelet", "kube-proxy", "kube-controller-manager", "kube-scheduler"}

func (l *Lab) nodeDir(node string) string { return filepath.Join(l.stateDir, "nodes", node) }

// cgroupParent is the cgroup (in every hierarchy) below which all of this
// lab's nodes put their pods.
func cgroupParent(prefix string) string { return "/" + prefix + "nodes" }

// cgroupRoot is the node's kubelet cgroupRoot.
func (l *Lab) cgroupRoot(node string) string {
	return cgroupParent(l.opts.Prefix) + "/" + node
}

// ContainerdSock is where a node's containerd listens, inside the node's
// mount namespace (reach it through NodeExec).
const ContainerdSock = "/run/containerd/containerd.sock"

// podRoutes makes every pod range reachable from every lab host over the
// lab link (the node that owns a range is the next hop), and gives the nodes
// their routes.
func (l *Lab) podRoutes(ctx context.Context) error {
	for _, h := range l.Hosts {
		if strings.HasPrefix(h.Name, "node-") {
			continue
		}
		// The API server's replies to pods (the controller) go back over
		// the management network, which a data-link failure leaves up.
		if err := l.routesTo(ctx, h, l.Nodes, h.Name == "control"); err != nil {
			return err
		}
	}
	for _, n := range l.Nodes {
		if err := l.nodeRoutes(ctx, n.Name); err != nil {
			return err
		}
		// A node routes for its pods; kube-proxy's DNAT and masquerade
		// need it too.
		for _, s := range []string{"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"} {
			if _, err := NetnsExec(ctx, n.NS, "sysctl", "-q", "-w", s); err != nil {
				return err
			}
		}
	}
	return nil
}

// nodeRoutes adds a node's routes over eth0: to the other nodes' pods, and
// to the Service ranges, because a process on the node (the host-network
// speaker) dials the API server's ClusterIP and the kernel needs a route
// for it before kube-proxy's output rule rewrites it (real nodes have a
// default route). A link that goes down takes these routes with it, so a
// node whose link comes back needs them again.
func (l *Lab) nodeRoutes(ctx context.Context, node string) error {
	h := l.Hosts[node]
	var others []*Host
	for _, n := range l.Nodes {
		if n != h {
			others = append(others, n)
		}
	}
	if err := l.routesTo(ctx, h, others, false); err != nil {
		return err
	}
	for _, cidr := range strings.Split(serviceCIDRs, ",") {
		if err := ip(ctx, "-n", h.NS, "route", "replace", cidr, "dev", "eth0"); err != nil {
			return err
		}
	}
	return nil
}

// routesTo routes the pod ranges of nodes from host h through each node,
// over the management network if mgmt (IPv4 only: it has no IPv6).
func (l *Lab) routesTo(ctx context.Context, h *Host, nodes []*Host, mgmt bool) error {
	for _, n := range nodes {
		v4, v6 := n.PodCIDRs()
		via := n.IPv4
		if mgmt {
			via = n.Mgmt
		}
		if err := ip(ctx, "-n", h.NS, "route", "replace", v4, "via", via.String()); err != nil {
			return err
		}
		if err := ip(ctx, "-n", h.NS, "-6", "route", "replace", v6, "via", n.IPv6.String()); err != nil {
			return err
		}
	}
	return nil
}

// startClusterControllers starts kube-controller-manager (EndpointSlices,
// Deployments, DaemonSets, node lifecycle, ServiceAccounts, ...) and
// kube-scheduler in the control namespace, both as the lab admin.
func (l *Lab) startClusterControllers() error {
	c := l.Hosts["control"]
	kc := l.AdminKubeconfig()
	if _, err := l.spawn("kube-controller-manager", c.NS, nil, l.Bin("kube-controller-manager"),
		"--kubeconfig="+kc,
		"--authentication-kubeconfig="+kc,
		"--authorization-kubeconfig="+kc,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--root-ca-file="+l.pki.caFile,
		"--service-account-private-key-file="+l.pki.SAPrivate,
		"--allocate-node-cidrs=false",
		// Pods of a failed node are marked NotReady (and so leave
		// EndpointSlices) after this; the default is 50 s.
		"--node-monitor-grace-period=20s",
	); err != nil {
		return err
	}
	_, err := l.spawn("kube-scheduler", c.NS, nil, l.Bin("kube-scheduler"),
		"--kubeconfig="+kc,
		"--authentication-kubeconfig="+kc,
		"--authorization-kubeconfig="+kc,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
	)
	return err
}

// StartNode starts a real node in the node's namespace: containerd (with
// the lab images imported), the kubelet and kube-proxy. It does not wait
// for the Node to be Ready.
func (l *Lab) StartNode(ctx context.Context, node string) error {
	h := l.Hosts[node]
	if h == nil {
		return fmt.Errorf("lab: no node %q", node)
	}
	dir := l.nodeDir(node)
	for _, d := range []string{"containerd", "cni", "ipam", "kubelet", "pod-logs", "sysctl"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := makeCgroup(l.cgroupRoot(node)); err != nil {
		return err
	}
	if err := l.writeNodeConfig(h); err != nil {
		return err
	}
	if err := l.startContainerd(ctx, h); err != nil {
		return err
	}
	for img, file := range labImages {
		if _, err := l.NodeExec(ctx, node, "ctr", "--address", ContainerdSock, "-n", "k8s.io",
			"images", "import", filepath.Join(l.opts.Root, "bin", "lab-images", file)); err != nil {
			return fmt.Errorf("lab: import %s into %s: %w", img, node, err)
		}
	}
	if err := l.StartKubelet(node); err != nil {
		return err
	}
	_, err := l.spawnArgv("kube-proxy-"+node, nil, []string{"nsenter", "--net=/run/netns/" + h.NS,
		l.Bin("kube-proxy"), "--config", l.kubeProxyConfig(), "--hostname-override", node, "--v=1"})
	return err
}

// kubeProxyConfig is the path of the configuration every node's kube-proxy
// reads; writeKubeProxyConfig writes it.
func (l *Lab) kubeProxyConfig() string { return filepath.Join(l.stateDir, "kube-proxy.conf") }

// writeKubeProxyConfig writes kube-proxy's configuration and publishes it
// where kubeadm does (ConfigMap kube-system/kube-proxy, key config.conf),
// which is what `leaselb doctor` reads to check the proxy mode.
func (l *Lab) writeKubeProxyConfig(ctx context.Context) error {
	conf := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
# No IP_VS module here; nftables mode never makes Service IPs local
# addresses, so the kernel never answers ARP for a VIP (what strictARP gives
# IPVS): only leaselb does.
mode: nftables
clusterCIDR: %s,%s
detectLocalMode: ClusterCIDR
clientConnection:
  kubeconfig: %s
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# Leave the machine-wide conntrack settings alone.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, podCIDRv4, podCIDRv6, l.AdminKubeconfig())
	if err := writeFile(l.kubeProxyConfig(), conf); err != nil {
		return err
	}
	_, err := l.Kubectl(ctx, "-n", "kube-system", "create", "configmap", "kube-proxy", "--from-file=config.conf="+l.kubeProxyConfig())
	return err
}

// writeNodeConfig writes the node's containerd, CNI, kubelet and kube-proxy
// configuration, its kubelet credentials and the tunables' files.
func (l *Lab) writeNodeConfig(h *Host) error {
	dir := l.nodeDir(h.Name)
	v4, v6 := h.PodCIDRs()
	files := map[string]string{
		"containerd.toml": fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # This machine lacks CAP_SYS_RESOURCE: lowering oom_score_adj fails.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, filepath.Join(dir, "containerd", "root"), filepath.Join(dir, "containerd", "state"), ContainerdSock, PauseImage, filepath.Join(dir, "cni")),
		"cni/10-lab.conflist": fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "lab",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q}], [{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, filepath.Join(dir, "ipam"), v4, v6),
		"kubelet.yaml": fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 hybrid machine: keep the kubelet running on v1, cgroupfs driver.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: %q
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
containerRuntimeEndpoint: unix://%s
podLogsDir: %q
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization:
  mode: Webhook
clusterDomain: cluster.local
failSwapOn: false
# Never write kernel settings on this machine; they are checked against the
# files the lab mounts over them.
protectKernelDefaults: true
makeIPTablesUtilChains: false
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 50Mi
  nodefs.available: "1%%"
  imagefs.available: "1%%"
  nodefs.inodesFree: "1%%"
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
fileCheckFrequency: 0s
staticPodPath: ""
resolvConf: /etc/resolv.conf
shutdownGracePeriod: 0s
`, l.cgroupRoot(h.Name), ContainerdSock, filepath.Join(dir, "pod-logs"), h.IPv4, l.pki.caFile),
	}
	for name, content := range files {
		if err := writeFile(filepath.Join(dir, name), content); err != nil {
			return err
		}
	}
	for path, v := range kubeletTunables {
		if err := writeFile(filepath.Join(dir, "sysctl", strings.ReplaceAll(path, "/", ".")), v+"\n"); err != nil {
			return err
		}
	}
	cert, key, err := l.pki.NodeCert(h.Name)
	if err != nil {
		return err
	}
	auth := fmt.Sprintf("    client-certificate: %s\n    client-key: %s", cert, key)
	return os.WriteFile(filepath.Join(dir, "kubelet.kubeconfig"), []byte(l.kubeconfig("system:node:"+h.Name, auth)), 0o600)
}

// startContainerd starts the node's containerd in a new private mount
// namespace inside the node's network namespace, and waits for its socket.
func (l *Lab) startContainerd(ctx context.Context, h *Host) error {
	dir := l.nodeDir(h.Name)
	var script strings.Builder
	script.WriteString("set -e\n")
	// Private copies of what every containerd and kubelet on a machine
	// share by path.
	for _, d := range []string{"/run/netns", "/run/containerd", "/var/lib/cni", "/var/log"} {
		fmt.Fprintf(&script, "mkdir -p %s && mount -t tmpfs -o mode=0755 lab %s\n", d, d)
	}
	paths := make([]string, 0, len(kubeletTunables))
	for p := range kubeletTunables {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Fprintf(&script, "mount --bind %s /proc/sys/%s\n", filepath.Join(dir, "sysctl", strings.ReplaceAll(p, "/", ".")), p)
	}
	fmt.Fprintf(&script, "exec containerd --config %s\n", filepath.Join(dir, "containerd.toml"))
	if _, err := l.spawnArgv("containerd-"+h.Name, nil, []string{"nsenter", "--net=/run/netns/" + h.NS,
		"unshare", "--mount", "--propagation", "private", "sh", "-c", script.String()}); err != nil {
		return err
	}
	return eventuallyUnless(ctx, time.Minute, 200*time.Millisecond, func() (bool, string) {
		out, err := l.NodeExec(ctx, h.Name, "ctr", "--address", ContainerdSock, "version")
		return err == nil, fmt.Sprintf("containerd on %s not answering: %s", h.Name, out)
	}, func() error {
		if p := l.Proc("containerd-" + h.Name); p != nil && p.Exited() {
			return fmt.Errorf("lab: containerd on %s exited: see %s", h.Name, p.LogFile)
		}
		return nil
	})
}

// StartKubelet starts the node's kubelet in its containerd's mount and
// network namespaces (containerd must be running).
func (l *Lab) StartKubelet(node string) error {
	p := l.Proc("containerd-" + node)
	if p == nil || p.Exited() {
		return fmt.Errorf("lab: containerd on %s is not running", node)
	}
	h := l.Hosts[node]
	dir := l.nodeDir(node)
	_, err := l.spawnArgv("kubelet-"+node, nil, []string{"nsenter", "-t", strconv.Itoa(p.Pid()), "-m", "-n",
		l.Bin("kubelet"),
		"--config=" + filepath.Join(dir, "kubelet.yaml"),
		"--kubeconfig=" + filepath.Join(dir, "kubelet.kubeconfig"),
		"--root-dir=" + filepath.Join(dir, "kubelet"),
		"--hostname-override=" + node,
		"--node-ip=" + h.IPv4.String() + "," + h.IPv6.String(),
		"--v=1",
	})
	return err
}

// NodeExec runs a command in the node's containerd mount and network
// namespaces (where its containerd socket and pod mounts are).
func (l *Lab) NodeExec(ctx context.Context, node string, name string, args ...string) (string, error) {
	p := l.Proc("containerd-" + node)
	if p == nil || p.Exited() {
		return "", fmt.Errorf("lab: containerd on %s is not running", node)
	}
	return run(ctx, "nsenter", append([]string{"-t", strconv.Itoa(p.Pid()), "-m", "-n", name}, args...)...)
}

// WaitNodesReady waits until every lab node's kubelet has registered its
// Node and reports Ready.
func (l *Lab) WaitNodesReady(ctx context.Context, timeout time.Duration) error {
	return eventuallyUnless(ctx, timeout, 500*time.Millisecond, func() (bool, string) {
		var notReady []string
		for _, n := range l.Nodes {
			node, err := l.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err != nil {
				notReady = append(notReady, n.Name+": "+err.Error())
				continue
			}
			if !nodeReady(node) {
				notReady = append(notReady, n.Name+": not Ready")
			}
		}
		return len(notReady) == 0, strings.Join(notReady, "; ")
	}, l.exitedNodeParts)
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// exitedNodeParts fails a wait early when a node component died.
func (l *Lab) exitedNodeParts() error {
	for _, n := range l.Nodes {
		for _, part := range []string{"containerd-", "kubelet-", "kube-proxy-"} {
			if p := l.Proc(part + n.Name); p != nil && p.Exited() {
				return fmt.Errorf("lab: %s%s exited: see %s", part, n.Name, p.LogFile)
			}
		}
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kube-apiserver"} {
		if p := l.Proc(name); p != nil && p.Exited() {
			return fmt.Errorf("lab: %s exited: see %s", name, p.LogFile)
		}
	}
	return nil
}

// StopNode kills everything of a real node — kubelet, kube-proxy,
// containerd, every container (through the node's cgroups) — as a power
// cut does; the node's state stays on disk for StartNode. It returns when
// nothing of the node runs any more.
func (l *Lab) StopNode(node string) {
	for _, part := range []string{"kubelet-", "kube-proxy-", "containerd-"} {
		if p := l.Proc(part + node); p != nil {
			p.Kill()
		}
	}
	// containerd's shims and the pods' processes outlive containerd:
	// they are found by cgroup (pods) and by network namespace (shims,
	// host-network pods).
	killCgroup(l.cgroupRoot(node))
	killNetnsProcs(l.Hosts[node].NS)
	killCgroup(l.cgroupRoot(node))
}

// wipeNode removes a stopped node's state (containerd's content, the
// kubelet's pods) so StartNode begins from a new machine.
func (l *Lab) wipeNode(node string) {
	removeCgroup(l.cgroupRoot(node))
	_ = os.RemoveAll(l.nodeDir(node))
}

// Overlay is the lab's kustomization: the install manifest's sources with
// only the image swapped for the one imported into the nodes.
func (l *Lab) Overlay() string { return filepath.Join(l.opts.Root, "e2e", "lab", "overlay") }

// InstallLeaselb applies the install manifest through the lab's overlay
// with `kubectl apply -k`, as a user would, and waits for both workloads.
// On an installed cluster it changes nothing.
func (l *Lab) InstallLeaselb(ctx context.Context) error {
	if _, err := l.Kubectl(ctx, "apply", "--server-side", "--force-conflicts", "-k", l.Overlay()); err != nil {
		return err
	}
	l.RBACSource = "kubectl apply -k " + l.Overlay()
	return l.WaitLeaselbRollout(ctx, 4*time.Minute)
}

// UninstallLeaselb deletes everything the overlay installs (CRDs, and so
// every pool and advertisement; the namespace, and so every Lease) and
// waits until it is gone.
func (l *Lab) UninstallLeaselb(ctx context.Context) error {
	if _, err := l.Kubectl(ctx, "delete", "--ignore-not-found", "--wait", "--timeout=3m", "-k", l.Overlay()); err != nil {
		return err
	}
	return Eventually(ctx, 3*time.Minute, 250*time.Millisecond, func() (bool, string) {
		out, _ := l.Kubectl(ctx, "get", "namespace", Namespace, "--ignore-not-found", "-o", "name")
		return strings.TrimSpace(out) == "", "namespace " + Namespace + " still exists"
	})
}

// WaitLeaselbRollout waits until the controller Deployment and the speaker
// DaemonSet are fully rolled out and available.
func (l *Lab) WaitLeaselbRollout(ctx context.Context, timeout time.Duration) error {
	for _, w := range []string{"daemonset/speaker", "deployment/controller"} {
		if _, err := l.Kubectl(ctx, "-n", Namespace, "rollout", "status", w, "--timeout="+timeout.String()); err != nil {
			pods, _ := l.Kubectl(ctx, "-n", Namespace, "get", "pods", "-o", "wide")
			return fmt.Errorf("%w\npods:\n%s", err, pods)
		}
	}
	return nil
}

// makeCgroup creates the cgroup path in every cgroup v1 hierarchy (and the
// unified one), as the kubelet requires of its cgroupRoot; cpuset
// directories get their parent's CPUs and memory nodes, without which no
// task can join them.
func makeCgroup(path string) error {
	for _, h := range cgroupHierarchies() {
		cur := h
		for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
			parent := cur
			cur = filepath.Join(cur, part)
			if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("lab: cgroup %s: %w", cur, err)
			}
			if filepath.Base(h) != "cpuset" {
				continue
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if b, _ := os.ReadFile(filepath.Join(cur, f)); strings.TrimSpace(string(b)) != "" {
					continue
				}
				b, err := os.ReadFile(filepath.Join(parent, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(cur, f), b, 0o644); err != nil {
					return fmt.Errorf("lab: cgroup %s: %w", filepath.Join(cur, f), err)
				}
			}
		}
	}
	return nil
}

// cgroupHierarchies lists the mounted cgroup hierarchies below
// /sys/fs/cgroup.
func cgroupHierarchies() []string {
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	var out []string
	for _, e := range entries {
		p := filepath.Join("/sys/fs/cgroup", e.Name())
		if _, err := os.Stat(filepath.Join(p, "cgroup.procs")); err == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		// A pure cgroup v2 machine: the root itself is the hierarchy.
		out = []string{"/sys/fs/cgroup"}
	}
	return out
}

// killCgroup SIGKILLs every process in the cgroup and below it, in every
// hierarchy, until none is left (or a few seconds pass).
func killCgroup(path string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		found := false
		for _, h := range cgroupHierarchies() {
			_ = filepath.WalkDir(filepath.Join(h, path), func(p string, d fs.DirEntry, err error) error {
				if err != nil || !d.IsDir() {
					return nil
				}
				b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
						found = true
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				return nil
			})
		}
		if !found || time.Now().After(deadline) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// removeCgroup kills what is left in the cgroup and removes it and
// everything below it, deepest first, in every hierarchy.
func removeCgroup(path string) {
	killCgroup(path)
	for _, h := range cgroupHierarchies() {
		root := filepath.Join(h, path)
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			for try := 0; try < 20; try++ {
				if err := os.Remove(dirs[i]); err == nil || errors.Is(err, fs.ErrNotExist) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}

// killNetnsProcs SIGKILLs every process in the named network namespace.
func killNetnsProcs(ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 10 {
		out, _ := run(ctx, "ip", "netns", "pids", ns)
		pids := strings.Fields(out)
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PodsByNode returns the names of the Running pods matching the selector
// in namespace ns, by node.
func (l *Lab) PodsByNode(ctx context.Context, ns, selector string) (map[string][]string, error) {
	pods, err := l.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p.Name)
		}
	}
	return out, nil
}
