package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/leaselb/leaselb/internal/client/clientset/versioned"
)

// Namespace is where leaselb's own objects live in the lab, as in the
// manifests.
const Namespace = "leaselb-system"

// A Host is one machine on the lab network: a network namespace with a veth
// named eth0 on the data network (where the VIPs live) and one named eth1
// on the management network (which carries the API server's traffic), so a
// failed data link and a failed node are different events.
type Host struct {
	// Name is the host's name, and for nodes the Node object's name.
	Name string
	// NS is the network namespace (the lab prefix plus Name).
	NS string
	// IPv4 and IPv6 are the host's addresses on eth0, the data network.
	IPv4, IPv6 net.IP
	// MAC is eth0's hardware address, fixed so logs and the demo read well.
	MAC string
	// Mgmt is the host's address on eth1, the management network.
	Mgmt net.IP
}

// The lab network: 192.0.2.0/24 and 2001:db8::/64, both documentation
// ranges, with the VIP pool at .190-.199 as in the walkthrough.
var hostPlan = []struct {
	name string
	id   byte
}{
	{"control", 2},
	{"node-a", 11},
	{"node-b", 12},
	{"node-c", 13},
	{"client", 100},
}

const (
	// PoolV4 and PoolV6 are the address ranges the scenarios and the demo
	// hand out: the walkthrough's 192.168.219.190-199, moved to the
	// documentation ranges.
	PoolV4 = "192.0.2.190-192.0.2.199"
	PoolV6 = "2001:db8::190-2001:db8::199"
	// serviceCIDRs is the API server's virtual ClusterIP range; it is
	// never routed anywhere.
	serviceCIDRs = "198.51.100.0/25,2001:db8:ffff::/112"
	// mgmtPrefix is the length of the management network,
	// 198.51.100.128/25 (the upper half of the range whose lower half is
	// the ClusterIP range).
	mgmtPrefix = "/25"
	apiPort    = 6443
)

// Options configure a lab.
type Options struct {
	// Prefix starts the name of every namespace the lab makes; a run
	// removes whatever an earlier run with the same prefix left.
	Prefix string
	// Root is the repository root: bin/ and manifests/ are read from it.
	Root string
	// Logf prints progress lines; nil is silent.
	Logf func(format string, args ...any)
	// NoLeaselb starts the lab without the leaselb controller and speakers
	// (for testing the lab itself).
	NoLeaselb bool
	// SpeakerArgs and ControllerArgs are added to the components' flags
	// (stand-in nodes only: with Kubelets the manifest's flags run).
	SpeakerArgs, ControllerArgs []string
	// SpeakerEnv is added to the speakers' environment (stand-in nodes
	// only), e.g. GOGC=50 to compare the Go runtime's settings.
	SpeakerEnv []string
	// APIServerArgs are added to kube-apiserver's flags (a later flag wins,
	// e.g. --profiling=true for the scale benchmark).
	APIServerArgs []string
	// Kubelets makes the nodes real: containerd, a kubelet and kube-proxy
	// in every node namespace, kube-controller-manager and kube-scheduler
	// beside the API server, and leaselb installed from its manifests
	// (through e2e/lab/overlay) as pods running the image built by `make
	// lab-images`. Without it the nodes are stand-ins: Node objects, a
	// kube-proxy stand-in, and the leaselb binaries started by the lab.
	Kubelets bool
}

// A Lab is a running lab.
type Lab struct {
	opts     Options
	stateDir string
	pki      *pki

	// Hosts by name: control, node-a, node-b, node-c, client.
	Hosts map[string]*Host
	// Nodes are the node hosts in order.
	Nodes []*Host
	// Client is the admin clientset, dialling from the client namespace.
	Client kubernetes.Interface
	// LB is the admin clientset for leaselb's CRDs.
	LB versioned.Interface
	// Config is the admin REST config behind Client and LB.
	Config *rest.Config
	// Direct is the admin clientset reaching the API server on loopback in
	// the control namespace, past its link: it works while CutAPI holds.
	Direct kubernetes.Interface

	mu    sync.Mutex
	procs map[string]*Proc
	// apiLink relays the management address to the API server, which
	// listens on loopback (see apilink.go).
	apiLink *apiLink
	// leaselbRBAC says where the RBAC came from, for logs and reports.
	RBACSource string
}

// Root is the repository root.
func (l *Lab) Root() string { return l.opts.Root }

// Bin returns the path of a binary in the repository's bin/.
func (l *Lab) Bin(name string) string { return filepath.Join(l.opts.Root, "bin", name) }

func (l *Lab) logf(format string, args ...any) {
	if l.opts.Logf != nil {
		l.opts.Logf(format, args...)
	}
}

// ErrNotRoot is returned by Start when the process cannot make namespaces.
var ErrNotRoot = errors.New("lab: needs root (network namespaces, veth, raw sockets): run as root, e.g. sudo make e2e")

// Start builds the lab: it removes leftovers of an earlier run with the same
// prefix, then brings up the network, the control plane, the Node objects,
// the kube-proxy stand-ins and (unless NoLeaselb) the leaselb components.
// On error everything started so far is torn down.
func Start(ctx context.Context, opts Options) (l *Lab, err error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if opts.Prefix == "" {
		opts.Prefix = "ll-"
	}
	if opts.Root == "" {
		return nil, errors.New("lab: Options.Root is empty: give the repository root")
	}
	need := []string{"kube-apiserver", "kubectl", "etcd", "labagent"}
	switch {
	case opts.Kubelets:
		// chart is Helm's library as a command (hack/tools/chart), for the
		// scenario that installs leaselb with its chart.
		need = append(need, append(kubeletBins, "chart", "leaselb")...)
		for _, f := range labImages {
			need = append(need, filepath.Join("lab-images", f))
		}
	case !opts.NoLeaselb:
		need = append(need, "leaselb")
	}
	for _, b := range need {
		if _, err := os.Stat(filepath.Join(opts.Root, "bin", b)); err != nil {
			return nil, fmt.Errorf("lab: bin/%s missing: run `make cluster-tools lab-tools lab-images` (or `make e2e`) first", b)
		}
	}
	lab := &Lab{
		opts:     opts,
		stateDir: filepath.Join(opts.Root, "bin", "lab-state", strings.TrimSuffix(opts.Prefix, "-")),
		Hosts:    map[string]*Host{},
		procs:    map[string]*Proc{},
	}
	l = lab
	Cleanup(opts.Prefix, l.stateDir)
	defer func() {
		if err != nil {
			// The named result is nil by now; close through the local.
			lab.Close()
		}
	}()
	if err := os.MkdirAll(filepath.Join(l.stateDir, "logs"), 0o755); err != nil {
		return nil, err
	}
	for _, h := range hostPlan {
		host := &Host{
			Name: h.name,
			NS:   opts.Prefix + h.name,
			IPv4: net.IPv4(192, 0, 2, h.id).To4(),
			IPv6: net.ParseIP(fmt.Sprintf("2001:db8::%d", h.id)),
			MAC:  fmt.Sprintf("02:11:00:00:00:%02x", h.id),
			Mgmt: net.IPv4(198, 51, 100, 128+h.id).To4(),
		}
		l.Hosts[h.name] = host
		if strings.HasPrefix(h.name, "node-") {
			l.Nodes = append(l.Nodes, host)
		}
	}
	l.logf("lab: network: switch + %d hosts in namespaces %s*", len(hostPlan), opts.Prefix)
	if err := l.startNetwork(ctx); err != nil {
		return nil, err
	}
	l.logf("lab: control plane: etcd + kube-apiserver on %s:%d (management network)", l.Hosts["control"].Mgmt, apiPort)
	if err := l.startControlPlane(ctx); err != nil {
		return nil, err
	}
	if opts.Kubelets {
		return l, l.startRealNodes(ctx)
	}
	l.logf("lab: CRDs and RBAC")
	if err := l.applyManifests(ctx); err != nil {
		return nil, err
	}
	l.logf("lab: Node objects for %d nodes", len(l.Nodes))
	if err := l.registerNodes(ctx); err != nil {
		return nil, err
	}
	if err := l.writeComponentKubeconfigs(ctx); err != nil {
		return nil, err
	}
	l.logf("lab: kube-proxy stand-ins (strictARP, VIPs on lo)")
	for _, n := range l.Nodes {
		if err := l.StartProxy(n.Name); err != nil {
			return nil, err
		}
	}
	if opts.NoLeaselb {
		return l, nil
	}
	l.logf("lab: leaselb controller and speakers")
	if err := l.StartController(); err != nil {
		return nil, err
	}
	for _, n := range l.Nodes {
		if err := l.StartSpeaker(n.Name); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// startRealNodes turns the nodes into real ones (Options.Kubelets).
func (l *Lab) startRealNodes(ctx context.Context) error {
	l.logf("lab: pod routes, kube-controller-manager, kube-scheduler")
	if err := l.podRoutes(ctx); err != nil {
		return err
	}
	if err := l.startClusterControllers(); err != nil {
		return err
	}
	if err := l.writeKubeProxyConfig(ctx); err != nil {
		return err
	}
	// The nodes boot side by side, as machines do.
	errs := make(chan error, len(l.Nodes))
	for _, n := range l.Nodes {
		l.logf("lab: %s: containerd (lab images imported), kubelet, kube-proxy (nftables)", n.Name)
		go func() { errs <- l.StartNode(ctx, n.Name) }()
	}
	var failed []error
	for range l.Nodes {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	if err := errors.Join(failed...); err != nil {
		return err
	}
	if err := l.WaitNodesReady(ctx, 3*time.Minute); err != nil {
		return err
	}
	l.logf("lab: %d nodes Ready", len(l.Nodes))
	if l.opts.NoLeaselb {
		return nil
	}
	l.logf("lab: leaselb: kubectl apply -k e2e/lab/overlay (the install manifest, lab image)")
	return l.InstallLeaselb(ctx)
}

// Cleanup removes every namespace with the prefix (killing what runs in
// them), the cgroups of its real nodes, and the state directory. Start
// calls it first; a signal handler may call it too.
func Cleanup(prefix, stateDir string) {
	for _, ns := range netnsNames() {
		if strings.HasPrefix(ns, prefix) {
			removeNetns(ns)
		}
	}
	removeCgroup(cgroupParent(prefix))
	if stateDir != "" {
		_ = os.RemoveAll(filepath.Join(stateDir, "nodes"))
		// Logs of the last run are kept for a person to read; the rest goes.
		_ = os.RemoveAll(filepath.Join(stateDir, "etcd"))
		_ = os.RemoveAll(filepath.Join(stateDir, "pki"))
		_ = os.RemoveAll(filepath.Join(stateDir, "logs"))
	}
}

// Close stops every process and removes every namespace the lab made. It is
// safe to call more than once.
func (l *Lab) Close() {
	if l == nil {
		return
	}
	l.mu.Lock()
	procs := make([]*Proc, 0, len(l.procs))
	for _, p := range l.procs {
		procs = append(procs, p)
	}
	l.mu.Unlock()
	// Speakers first, with SIGTERM, so they release their leases while the
	// API server is still up; then everything else. Real nodes go as a
	// whole: kubelets first, so none restarts a container being killed.
	for _, p := range procs {
		if strings.HasPrefix(p.Name, "speaker-") || strings.HasPrefix(p.Name, "kubelet-") {
			p.Stop(3 * time.Second)
		}
	}
	if l.opts.Kubelets {
		for _, n := range l.Nodes {
			l.StopNode(n.Name)
		}
	}
	for _, p := range procs {
		p.Stop(2 * time.Second)
	}
	l.apiLink.close()
	for _, h := range hostPlan {
		removeNetns(l.opts.Prefix + h.name)
	}
	removeNetns(l.opts.Prefix + "switch")
	removeCgroup(cgroupParent(l.opts.Prefix))
	_ = os.RemoveAll(filepath.Join(l.stateDir, "etcd"))
	_ = os.RemoveAll(filepath.Join(l.stateDir, "nodes"))
}

// LogDir is where each component's output goes (kept after Close).
func (l *Lab) LogDir() string { return filepath.Join(l.stateDir, "logs") }

// startNetwork makes the switch and the hosts.
func (l *Lab) startNetwork(ctx context.Context) error {
	sw := l.opts.Prefix + "switch"
	steps := [][]string{
		{"netns", "add", sw},
		{"-n", sw, "link", "set", "lo", "up"},
		// No multicast snooping: a home switch floods multicast, and NDP's
		// solicited-node groups must reach every node.
		{"-n", sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0", "stp_state", "0", "forward_delay", "0"},
		{"-n", sw, "link", "set", "br0", "up"},
		// The management network: a second switch.
		{"-n", sw, "link", "add", "br1", "type", "bridge", "stp_state", "0", "forward_delay", "0"},
		{"-n", sw, "link", "set", "br1", "up"},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return err
		}
	}
	for _, h := range hostPlan {
		host := l.Hosts[h.name]
		if err := ip(ctx, "netns", "add", host.NS); err != nil {
			return err
		}
		// No duplicate address detection: addresses are usable at once and
		// link-local sources work for NDP from the first packet.
		// Keep IPv6 addresses across link down/up (a failed node comes back
		// with its addresses, as a real one does when the cable returns).
		for _, s := range []string{"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
			"net.ipv6.conf.all.keep_addr_on_down=1", "net.ipv6.conf.default.keep_addr_on_down=1"} {
			if _, err := NetnsExec(ctx, host.NS, "sysctl", "-q", "-w", s); err != nil {
				return err
			}
		}
		port := "p-" + h.name
		steps := [][]string{
			{"-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host.NS},
			{"-n", sw, "link", "set", port, "master", "br0", "up"},
			{"-n", host.NS, "link", "set", "lo", "up"},
			{"-n", host.NS, "link", "set", "eth0", "address", host.MAC},
			{"-n", host.NS, "addr", "add", host.IPv4.String() + "/24", "dev", "eth0"},
			{"-n", host.NS, "addr", "add", host.IPv6.String() + "/64", "dev", "eth0", "nodad"},
			{"-n", host.NS, "link", "set", "eth0", "up"},
			{"-n", sw, "link", "add", "m-" + h.name, "type", "veth", "peer", "name", "eth1", "netns", host.NS},
			{"-n", sw, "link", "set", "m-" + h.name, "master", "br1", "up"},
			{"-n", host.NS, "link", "set", "eth1", "address", fmt.Sprintf("02:12:00:00:00:%02x", h.id)},
			{"-n", host.NS, "addr", "add", host.Mgmt.String() + mgmtPrefix, "dev", "eth1"},
			{"-n", host.NS, "link", "set", "eth1", "up"},
		}
		for _, s := range steps {
			if err := ip(ctx, s...); err != nil {
				return err
			}
		}
		if strings.HasPrefix(h.name, "node-") {
			// kube-proxy in IPVS mode with strictARP: the VIPs sit on a local
			// interface, and the kernel neither answers ARP for them on eth0
			// nor uses them as ARP sources. Only leaselb answers for them.
			for _, s := range []string{
				"net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
				"net.ipv4.conf.eth0.arp_ignore=1", "net.ipv4.conf.eth0.arp_announce=2",
			} {
				if _, err := NetnsExec(ctx, host.NS, "sysctl", "-q", "-w", s); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// APIServerURL is the API server's address on the management network.
func (l *Lab) APIServerURL() string {
	return fmt.Sprintf("https://%s", net.JoinHostPort(l.Hosts["control"].Mgmt.String(), fmt.Sprint(apiPort)))
}

func (l *Lab) startControlPlane(ctx context.Context) error {
	control := l.Hosts["control"]
	p, err := newPKI(filepath.Join(l.stateDir, "pki"), []net.IP{control.Mgmt, control.IPv4, control.IPv6, net.ParseIP("198.51.100.1"), net.ParseIP("127.0.0.1")})
	if err != nil {
		return err
	}
	l.pki = p
	if err := l.StartEtcd(); err != nil {
		return err
	}
	if err := l.StartAPIServer(); err != nil {
		return err
	}
	if l.apiLink, err = startAPILink(control.NS, net.JoinHostPort(control.Mgmt.String(), fmt.Sprint(apiPort)),
		net.JoinHostPort("127.0.0.1", fmt.Sprint(apiPort))); err != nil {
		return fmt.Errorf("lab: the API server's link: %w", err)
	}
	if err := l.writeAdminKubeconfig(); err != nil {
		return err
	}
	cfg := &rest.Config{
		Host:            l.APIServerURL(),
		TLSClientConfig: rest.TLSClientConfig{CAData: p.CAData, CertFile: p.AdminCert, KeyFile: p.AdminKey},
		Dial:            DialerIn(l.Hosts["client"].NS),
		QPS:             200,
		Burst:           400,
		UserAgent:       "leaselb-lab",
	}
	l.Config = cfg
	if l.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if l.LB, err = versioned.NewForConfig(cfg); err != nil {
		return err
	}
	direct := rest.CopyConfig(cfg)
	direct.Host = fmt.Sprintf("https://%s", net.JoinHostPort("127.0.0.1", fmt.Sprint(apiPort)))
	direct.Dial = DialerIn(control.NS)
	direct.UserAgent = "leaselb-lab-direct"
	if l.Direct, err = kubernetes.NewForConfig(direct); err != nil {
		return err
	}
	return l.WaitAPIServer(ctx, 3*time.Minute)
}

// StartEtcd starts etcd in the control namespace (again, after StopEtcd).
func (l *Lab) StartEtcd() error {
	c := l.Hosts["control"]
	_, err := l.spawn("etcd", c.NS, nil, l.Bin("etcd"),
		"--data-dir", filepath.Join(l.stateDir, "etcd"),
		"--listen-client-url", "http://127.0.0.1:2379",
		"--listen-peer-url", "http://127.0.0.1:2380",
	)
	return err
}

// StartAPIServer starts kube-apiserver in the control namespace (again,
// after StopAPIServer).
func (l *Lab) StartAPIServer() error {
	c := l.Hosts["control"]
	args := []string{
		"--etcd-servers=http://127.0.0.1:2379",
		// Clients reach it through the lab's relay on the management
		// address (apilink.go), which can add latency to its link.
		"--bind-address=127.0.0.1",
		"--advertise-address=" + c.Mgmt.String(),
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--cert-dir=" + filepath.Join(l.stateDir, "pki", "apiserver"),
		"--tls-cert-file=" + l.pki.ServingCert,
		"--tls-private-key-file=" + l.pki.ServingKey,
		"--client-ca-file=" + l.pki.caFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + l.pki.SAPublic,
		"--service-account-signing-key-file=" + l.pki.SAPrivate,
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=" + serviceCIDRs,
		"--allow-privileged=true",
		"--profiling=false",
		"--anonymous-auth=false",
		// kubectl logs/exec reach kubelets by their lab address, as the admin.
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-client-certificate=" + l.pki.AdminCert,
		"--kubelet-client-key=" + l.pki.AdminKey,
	}
	_, err := l.spawn("kube-apiserver", c.NS, nil, l.Bin("kube-apiserver"), append(args, l.opts.APIServerArgs...)...)
	return err
}

// WaitAPIServer waits until the API server answers /readyz.
func (l *Lab) WaitAPIServer(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		rc := l.Client.Discovery().RESTClient()
		var code int
		res := rc.Get().AbsPath("/readyz").Do(ctx).StatusCode(&code)
		if res.Error() == nil && code == http.StatusOK {
			return nil
		}
		last = res.Error()
		if p := l.Proc("kube-apiserver"); p != nil && p.Exited() {
			return fmt.Errorf("lab: kube-apiserver exited: see %s", p.LogFile)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: kube-apiserver not ready after %s (last: %v): see %s", timeout, last, filepath.Join(l.LogDir(), "kube-apiserver.log"))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// FindRoot returns the repository root: the nearest directory at or above
// the working directory whose go.mod declares the leaselb module.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(data)), "module github.com/leaselb/leaselb\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("lab: not inside the leaselb repository (no go.mod declaring github.com/leaselb/leaselb above the working directory)")
		}
		dir = parent
	}
}
