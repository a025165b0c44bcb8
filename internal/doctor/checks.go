package doctor

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/leaselb/leaselb/allocator"
	"github.com/leaselb/leaselb/api/v1alpha1"
	"github.com/leaselb/leaselb/election"
	"github.com/leaselb/leaselb/internal/speaker"
)

// Lease freshness. Doctor reads each Lease once, so it judges age by
// renewTime against the API server's clock (Snapshot.Now); clocks in a
// cluster agree to well under these slacks when NTP runs.
const (
	// holderSlack is added to a node lease's leaseDurationSeconds before a
	// holder's node lease is called stale (renewals every 500 ms, duration
	// 2 s, Date headers with one-second resolution).
	holderSlack = 5 * time.Second
	// idleSpeakerAge is how old an idle speaker's node lease may be: idle
	// nodes renew every 10 s (election.DefaultIdleRenew), so three missed
	// renewals.
	idleSpeakerAge = 3*election.DefaultIdleRenew + holderSlack
	// freshService is how long a new Service may wait for its IP before
	// doctor calls it stuck.
	freshService = 30 * time.Second
)

func objName(kind, ns, name string) string {
	if ns == "" {
		return kind + " " + name
	}
	return kind + " " + ns + "/" + name
}

func unreadable(check string, s *Snapshot, sources ...string) []Finding {
	var out []Finding
	for _, src := range sources {
		if msg, ok := s.Errors[src]; ok {
			out = append(out, Finding{Check: check, Severity: Warn,
				Message: fmt.Sprintf("could not read %s: %s", src, msg),
				Fix:     "run leaselb doctor with a kubeconfig that may get/list it (cluster-admin, or a read-only role over these objects)"})
		}
	}
	return out
}

// kubeProxyConfig is the part of KubeProxyConfiguration doctor reads.
type kubeProxyConfig struct {
	Kind string `json:"kind"`
	Mode string `json:"mode"`
	IPVS struct {
		StrictARP *bool `json:"strictARP"`
	} `json:"ipvs"`
}

func checkKubeProxy(s *Snapshot, _ Options) []Finding {
	const check = "kube-proxy"
	if f := unreadable(check, s, SourceKubeProxy); f != nil {
		return f
	}
	obj := objName("ConfigMap", KubeProxyNamespace, KubeProxyConfigMap)
	if s.KubeProxy == nil {
		return []Finding{{Check: check, Severity: Warn, Object: obj,
			Message: "no kube-proxy ConfigMap: kube-proxy is not installed by kubeadm here (or a CNI replaces it), so doctor cannot check strictARP",
			Fix:     "if kube-proxy runs in IPVS mode, give it --ipvs-strict-arp (or ipvs.strictARP: true in its configuration file)"}}
	}
	key, text := "", ""
	if v, ok := s.KubeProxy.Data["config.conf"]; ok {
		key, text = "config.conf", v
	} else {
		keys := make([]string, 0, len(s.KubeProxy.Data))
		for k := range s.KubeProxy.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if strings.Contains(s.KubeProxy.Data[k], "KubeProxyConfiguration") {
				key, text = k, s.KubeProxy.Data[k]
				break
			}
		}
	}
	if key == "" {
		return []Finding{{Check: check, Severity: Warn, Object: obj,
			Message: "the ConfigMap holds no KubeProxyConfiguration (no config.conf key), so doctor cannot check strictARP",
			Fix:     "kubectl get configmap -n kube-system kube-proxy -o yaml   # if mode is ipvs, set ipvs.strictARP: true"}}
	}
	var cfg kubeProxyConfig
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		return []Finding{{Check: check, Severity: Warn, Object: obj,
			Message: fmt.Sprintf("cannot parse %s as a KubeProxyConfiguration: %v", key, err)}}
	}
	mode := strings.ToLower(strings.TrimSpace(cfg.Mode))
	switch mode {
	case "ipvs":
		if cfg.IPVS.StrictARP != nil && *cfg.IPVS.StrictARP {
			return []Finding{{Check: check, Severity: OK, Object: obj, Message: "kube-proxy runs in IPVS mode with ipvs.strictARP true"}}
		}
		fix := "kubectl edit configmap -n kube-system kube-proxy\n" +
			"    # in config.conf, under ipvs:, change strictARP: false to strictARP: true\n"
		if cfg.IPVS.StrictARP != nil {
			fix += "or, without an editor:\n" +
				"  kubectl get configmap kube-proxy -n kube-system -o yaml | sed -e \"s/strictARP: false/strictARP: true/\" | kubectl apply -f - -n kube-system\n"
		} else {
			fix = "kubectl edit configmap -n kube-system kube-proxy\n" +
				"    # in config.conf, under ipvs:, add strictARP: true\n"
		}
		fix += "then restart kube-proxy so it reads the change:\n" +
			"  kubectl rollout restart daemonset kube-proxy -n kube-system"
		return []Finding{{Check: check, Severity: Fail, Object: obj,
			Message: "kube-proxy runs in IPVS mode with ipvs.strictARP false: every node answers ARP for every VIP (they are all on kube-ipvs0), so the network sends a VIP's traffic to whichever node answered last, and leaselb's choice of node and its failover mean nothing",
			Fix:     fix}}
	case "", "iptables", "nftables":
		shown := mode
		if shown == "" {
			shown = "iptables (the default)"
		}
		return []Finding{{Check: check, Severity: OK, Object: obj,
			Message: fmt.Sprintf("kube-proxy mode %s: nothing to change (strictARP matters only in IPVS mode)", shown)}}
	default:
		return []Finding{{Check: check, Severity: Warn, Object: obj,
			Message: fmt.Sprintf("kube-proxy mode %q is not one doctor knows; if it answers ARP for addresses on a dummy interface, enable its strict-ARP equivalent", cfg.Mode)}}
	}
}

func checkCRDs(s *Snapshot, _ Options) []Finding {
	const check = "crds"
	if f := unreadable(check, s, SourceResources); f != nil {
		return f
	}
	var missing []string
	for _, r := range []string{"ipaddresspools", "l2advertisements"} {
		if !s.Resources[r] {
			missing = append(missing, r+"."+v1alpha1.GroupName)
		}
	}
	if len(missing) > 0 {
		return []Finding{{Check: check, Severity: Fail,
			Message: fmt.Sprintf("the API server does not serve %s (leaselb.io/v1alpha1): leaselb is not installed, or an old version is", strings.Join(missing, " and ")),
			Fix:     "kubectl apply -f manifests/leaselb.yaml   # or: kubectl apply -k manifests/"}}
	}
	return []Finding{{Check: check, Severity: OK, Message: "ipaddresspools.leaselb.io and l2advertisements.leaselb.io are installed"}}
}

func findLease(s *Snapshot, name string) *coordinationv1.Lease {
	for i := range s.Leases {
		if s.Leases[i].Name == name {
			return &s.Leases[i]
		}
	}
	return nil
}

// leaseAge is how long ago, on the API server's clock, the Lease was last
// renewed (or acquired); ok is false when it carries no time at all.
func leaseAge(s *Snapshot, l *coordinationv1.Lease) (time.Duration, bool) {
	var t time.Time
	switch {
	case l.Spec.RenewTime != nil:
		t = l.Spec.RenewTime.Time
	case l.Spec.AcquireTime != nil:
		t = l.Spec.AcquireTime.Time
	default:
		return 0, false
	}
	age := s.Now.Sub(t)
	if age < 0 {
		age = 0
	}
	return age, true
}

func leaseDuration(l *coordinationv1.Lease, def time.Duration) time.Duration {
	if l.Spec.LeaseDurationSeconds != nil && *l.Spec.LeaseDurationSeconds > 0 {
		return time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return def
}

func checkController(s *Snapshot, _ Options) []Finding {
	const check = "controller"
	if f := unreadable(check, s, SourceLeases); f != nil {
		return f
	}
	lease := findLease(s, ControllerLease)
	obj := objName("Lease", s.Namespace, ControllerLease)
	fix := fmt.Sprintf("kubectl -n %[1]s get deployment %[2]s; kubectl -n %[1]s logs deployment/%[2]s", s.Namespace, ControllerDeployment)
	if lease == nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		if d := s.Controller; d != nil && d.Status.ReadyReplicas > 0 {
			return []Finding{{Check: check, Severity: Warn, Object: obj,
				Message: fmt.Sprintf("deployment %s has %d ready replica(s) but no leader in the Lease: it runs without --leader-elect, or has not won yet", ControllerDeployment, d.Status.ReadyReplicas)}}
		}
		return []Finding{{Check: check, Severity: Fail, Object: obj,
			Message: "no controller is leading: nothing assigns IPs to new Services (existing VIPs keep working)",
			Fix:     fix}}
	}
	holder := *lease.Spec.HolderIdentity
	age, ok := leaseAge(s, lease)
	limit := leaseDuration(lease, 15*time.Second) + holderSlack
	if !ok || age > limit {
		return []Finding{{Check: check, Severity: Fail, Object: obj,
			Message: fmt.Sprintf("the leader %q last renewed %s ago (lease duration %s): it is gone and no other replica took over", holder, age.Round(time.Second), leaseDuration(lease, 15*time.Second)),
			Fix:     fix}}
	}
	return []Finding{{Check: check, Severity: OK, Object: obj,
		Message: fmt.Sprintf("controller %q leads (renewed %s ago)", holder, age.Round(time.Second))}}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// announcingNodes are the nodes that may announce at all: Linux nodes not
// labelled node.kubernetes.io/exclude-from-external-load-balancers, or all
// Linux nodes when the speakers run with --ignore-exclude-label.
func announcingNodes(s *Snapshot) []*corev1.Node {
	ignore := SpeakerFlagsOf(s.Speaker).IgnoreExcludeLabel
	var out []*corev1.Node
	for _, n := range SpeakerNodes(s) {
		if _, ok := n.Labels[v1alpha1.LabelExcludeFromLB]; ok && !ignore {
			continue
		}
		out = append(out, n)
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// tolerates reports whether tolerations let a pod run on a node with taint.
func tolerates(tolerations []corev1.Toleration, taint corev1.Taint) bool {
	for _, t := range tolerations {
		if t.Effect != "" && t.Effect != taint.Effect {
			continue
		}
		if t.Key == "" && t.Operator == corev1.TolerationOpExists {
			return true
		}
		if t.Key != taint.Key {
			continue
		}
		if t.Operator == corev1.TolerationOpExists || t.Value == taint.Value {
			return true
		}
	}
	return false
}

// speakerAlive says whether a speaker runs on node, and how doctor knows:
// a ready speaker pod there, or the node lease renewed recently (the lab and
// other installs that run the speaker outside a DaemonSet).
func speakerAlive(s *Snapshot, node string) (bool, string) {
	for i := range s.Pods {
		p := &s.Pods[i]
		if p.Spec.NodeName == node && p.Labels[ComponentLabel] == "speaker" && podReady(p) {
			return true, "pod " + p.Name + " is ready"
		}
	}
	if l := findLease(s, election.NodeLeaseName(node)); l != nil {
		if age, ok := leaseAge(s, l); ok && age <= idleSpeakerAge {
			return true, fmt.Sprintf("node lease renewed %s ago", age.Round(time.Second))
		}
	}
	return false, ""
}

func checkSpeakers(s *Snapshot, _ Options) []Finding {
	const check = "speakers"
	if f := unreadable(check, s, SourceNodes, SourcePods, SourceLeases); f != nil {
		return f
	}
	nodes := announcingNodes(s)
	if len(s.Nodes) == 0 {
		return []Finding{{Check: check, Severity: Warn, Message: "the cluster has no Nodes"}}
	}
	if len(nodes) == 0 {
		return []Finding{{Check: check, Severity: Fail,
			Message: "every node is labelled " + v1alpha1.LabelExcludeFromLB + " (or is not Linux): no node may announce a VIP",
			Fix:     ignoreExcludeFix(s)}}
	}
	var out []Finding
	running := 0
	for _, n := range nodes {
		alive, _ := speakerAlive(s, n.Name)
		if alive {
			running++
			continue
		}
		obj := objName("Node", "", n.Name)
		if !nodeReady(n) {
			out = append(out, Finding{Check: check, Severity: Warn, Object: obj,
				Message: "the node is not Ready and no speaker runs on it: it announces nothing until it is back"})
			continue
		}
		if s.Speaker != nil {
			var blocking []string
			for _, t := range n.Spec.Taints {
				// The DaemonSet controller adds tolerations for the
				// node.kubernetes.io/ condition taints (not-ready,
				// unreachable, pressure, unschedulable, network-unavailable)
				// to every DaemonSet pod, so only other taints keep it out.
				if strings.HasPrefix(t.Key, "node.kubernetes.io/") {
					continue
				}
				if (t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute) &&
					!tolerates(s.Speaker.Spec.Template.Spec.Tolerations, t) {
					blocking = append(blocking, fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect))
				}
			}
			if len(blocking) > 0 {
				out = append(out, Finding{Check: check, Severity: Fail, Object: obj,
					Message: fmt.Sprintf("the speaker DaemonSet does not tolerate the node's taint %s, so no speaker runs there, yet the node is not excluded from load balancing", strings.Join(blocking, ", ")),
					Fix: fmt.Sprintf("either add a toleration for it to daemonset %s/%s, or keep the node out of announcing:\n  kubectl label node %s %s=true",
						s.Namespace, SpeakerDaemonSet, n.Name, v1alpha1.LabelExcludeFromLB)})
				continue
			}
		}
		fix := fmt.Sprintf("kubectl -n %s get pods -o wide -l %s=speaker --field-selector spec.nodeName=%s", s.Namespace, ComponentLabel, n.Name)
		if s.Speaker == nil {
			fix = fmt.Sprintf("no daemonset %s/%s either: install leaselb (kubectl apply -f manifests/leaselb.yaml)", s.Namespace, SpeakerDaemonSet)
		}
		out = append(out, Finding{Check: check, Severity: Fail, Object: obj,
			Message: "no speaker runs on this node (no ready speaker pod, no fresh node lease " + election.NodeLeaseName(n.Name) + "): VIPs cannot fail over to it",
			Fix:     fix})
	}
	if running == len(nodes) {
		out = append([]Finding{{Check: check, Severity: OK,
			Message: fmt.Sprintf("a speaker runs on each of the %d node(s) that may announce", len(nodes))}}, out...)
	}
	return out
}

// ignoreExcludeFix says how to let labelled nodes announce.
func ignoreExcludeFix(s *Snapshot) string {
	return fmt.Sprintf("let labelled nodes announce: run the speakers with --ignore-exclude-label\n"+
		"  helm upgrade leaselb <chart> --reuse-values --set speaker.ignoreExcludeLabel=true\n"+
		"  # or: kubectl -n %s edit daemonset %s   (add - --ignore-exclude-label to the speaker's args)\n"+
		"or take the label off a node: kubectl label node <node> %s-", s.Namespace, SpeakerDaemonSet, v1alpha1.LabelExcludeFromLB)
}

// checkExcludeLabel catches the cluster where every node that runs a
// speaker carries node.kubernetes.io/exclude-from-external-load-balancers:
// kubeadm labels control-plane nodes so, and a single-node or
// control-plane-only homelab then gets no VIP announced, silently.
func checkExcludeLabel(s *Snapshot, _ Options) []Finding {
	const check = "exclude-label"
	if f := unreadable(check, s, SourceNodes, SourcePods, SourceLeases); f != nil {
		return f
	}
	flags := SpeakerFlagsOf(s.Speaker)
	var running, labelled []string
	for _, n := range SpeakerNodes(s) {
		if alive, _ := speakerAlive(s, n.Name); !alive {
			continue
		}
		running = append(running, n.Name)
		if _, ok := n.Labels[v1alpha1.LabelExcludeFromLB]; ok {
			labelled = append(labelled, n.Name)
		}
	}
	switch {
	case len(labelled) == 0:
		return []Finding{{Check: check, Severity: OK,
			Message: fmt.Sprintf("no node that runs a speaker is labelled %s", v1alpha1.LabelExcludeFromLB)}}
	case flags.IgnoreExcludeLabel:
		return []Finding{{Check: check, Severity: OK,
			Message: fmt.Sprintf("the speakers run with --ignore-exclude-label, so the labelled node(s) %s announce too", strings.Join(labelled, ", "))}}
	case len(labelled) == len(running):
		return []Finding{{Check: check, Severity: Fail,
			Message: fmt.Sprintf("every node that runs a speaker (%s) is labelled %s (kubeadm labels control-plane nodes so) and the speakers do not run with --ignore-exclude-label: no node may announce a VIP",
				strings.Join(running, ", "), v1alpha1.LabelExcludeFromLB),
			Fix: ignoreExcludeFix(s)}}
	default:
		return []Finding{{Check: check, Severity: OK,
			Message: fmt.Sprintf("node(s) %s are labelled %s and do not announce; %d other node(s) with a speaker do",
				strings.Join(labelled, ", "), v1alpha1.LabelExcludeFromLB, len(running)-len(labelled))}}
	}
}

func checkPools(s *Snapshot, _ Options) []Finding {
	const check = "pools"
	if f := unreadable(check, s, SourcePools); f != nil {
		return f
	}
	if len(s.Pools) == 0 {
		return []Finding{{Check: check, Severity: Fail,
			Message: "no IPAddressPool in " + s.Namespace + ": LoadBalancer Services get no IP",
			Fix:     "create one with free addresses of the nodes' LAN (see manifests/examples/my-network.yaml)"}}
	}
	var out []Finding
	for i := range s.Pools {
		p := &s.Pools[i]
		obj := objName("IPAddressPool", p.Namespace, p.Name)
		bad := false
		for _, c := range p.Status.Conditions {
			if c.Type == "Valid" && c.Status == "False" {
				out = append(out, Finding{Check: check, Severity: Fail, Object: obj,
					Message: fmt.Sprintf("the controller ignores this pool (%s): %s", c.Reason, c.Message),
					Fix:     "kubectl -n " + p.Namespace + " edit ipaddresspool " + p.Name})
				bad = true
			}
		}
		if !bad {
			out = append(out, Finding{Check: check, Severity: OK, Object: obj,
				Message: fmt.Sprintf("%s; %d/%d IPv4 and %d/%d IPv6 addresses assigned",
					strings.Join(addrStrings(p), ", "), p.Status.AssignedIPv4, p.Status.AssignedIPv4+p.Status.AvailableIPv4,
					p.Status.AssignedIPv6, p.Status.AssignedIPv6+p.Status.AvailableIPv6)})
		}
	}
	return out
}

func addrStrings(p *v1alpha1.IPAddressPool) []string {
	out := make([]string, len(p.Spec.Addresses))
	for i, a := range p.Spec.Addresses {
		out[i] = string(a)
	}
	return out
}

// nodeAddrs returns the nodes' InternalIPs (ExternalIPs for a node that has
// none), with the node's name.
func nodeAddrs(s *Snapshot) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, n := range s.Nodes {
		var internal, external []netip.Addr
		for _, a := range n.Status.Addresses {
			ip, err := netip.ParseAddr(a.Address)
			if err != nil {
				continue
			}
			switch a.Type {
			case corev1.NodeInternalIP:
				internal = append(internal, ip.Unmap())
			case corev1.NodeExternalIP:
				external = append(external, ip.Unmap())
			}
		}
		if len(internal) == 0 {
			internal = external
		}
		for _, ip := range internal {
			out[ip] = n.Name
		}
	}
	return out
}

// commonBits is the length of the longest common prefix of a and b (same
// family).
func commonBits(a, b netip.Addr) int {
	x, y := a.AsSlice(), b.AsSlice()
	n := 0
	for i := range x {
		d := x[i] ^ y[i]
		if d == 0 {
			n += 8
			continue
		}
		for d&0x80 == 0 {
			n++
			d <<= 1
		}
		return n
	}
	return n
}

// subnetVerdict places one pool entry against the nodes' addresses. The
// Node object has no prefix length, so doctor assumes the nodes sit in a
// /bits (24 for IPv4, 64 for IPv6 by default): the entry is on-link when
// both its ends share that prefix with some node address (or, for an entry
// wider than that, the entry's own prefix). An entry that shares at least
// /(bits-8) with a node is only a warning: the LAN may simply be larger.
func subnetVerdict(first, last netip.Addr, addrs map[netip.Addr]string, bits int) (Severity, string) {
	need := min(bits, commonBits(first, last))
	best, bestIP := -1, netip.Addr{}
	for ip := range addrs {
		if ip.Is4() != first.Is4() {
			continue
		}
		if c := min(commonBits(ip, first), commonBits(ip, last)); c > best || (c == best && ip.Less(bestIP)) {
			best, bestIP = c, ip
		}
	}
	family := "IPv4"
	if !first.Is4() {
		family = "IPv6"
	}
	if best < 0 {
		return Fail, fmt.Sprintf("no node has an %s InternalIP, so no node is on the link of these addresses", family)
	}
	where := fmt.Sprintf("node %s (%s)", addrs[bestIP], bestIP)
	switch {
	case best >= need:
		return OK, fmt.Sprintf("in the /%d of %s", need, where)
	case best >= need-8:
		return Warn, fmt.Sprintf("shares only a /%d with the nearest node address, %s; fine if that LAN is a /%d or larger, otherwise no node is on its link", best, where, best)
	default:
		return Fail, fmt.Sprintf("is outside every node's subnet (the nearest node address, %s, shares only a /%d with it): no node is on that link, so ARP/NDP for these VIPs never reaches a speaker and clients cannot reach them", where, best)
	}
}

func checkPoolSubnets(s *Snapshot, o Options) []Finding {
	const check = "pool-subnet"
	if f := unreadable(check, s, SourcePools, SourceNodes); f != nil {
		return f
	}
	addrs := nodeAddrs(s)
	if len(addrs) == 0 {
		if len(s.Pools) == 0 {
			return nil
		}
		return []Finding{{Check: check, Severity: Warn, Message: "no node reports an InternalIP or ExternalIP, so doctor cannot check that pools are on the nodes' subnets"}}
	}
	var nodeList []string
	for ip, n := range addrs {
		nodeList = append(nodeList, fmt.Sprintf("%s %s", n, ip))
	}
	slices.Sort(nodeList)
	var out []Finding
	for i := range s.Pools {
		p := &s.Pools[i]
		obj := objName("IPAddressPool", p.Namespace, p.Name)
		worst, var1 := OK, []string{}
		for _, a := range p.Spec.Addresses {
			first, last, err := allocator.ParseRange(string(a))
			if err != nil {
				worst = Fail
				var1 = append(var1, fmt.Sprintf("%s: %v", a, err))
				continue
			}
			bits := o.SubnetBitsV4
			if !first.Is4() {
				bits = o.SubnetBitsV6
			}
			sev, msg := subnetVerdict(first, last, addrs, bits)
			if sev == OK {
				continue
			}
			if Worst([]Finding{{Severity: worst}, {Severity: sev}}) == sev {
				worst = sev
			}
			var1 = append(var1, fmt.Sprintf("%s %s", a, msg))
		}
		if worst == OK {
			out = append(out, Finding{Check: check, Severity: OK, Object: obj,
				Message: fmt.Sprintf("every address is in the /%d (IPv4) or /%d (IPv6) of some node's address", o.SubnetBitsV4, o.SubnetBitsV6)})
			continue
		}
		out = append(out, Finding{Check: check, Severity: worst, Object: obj,
			Message: strings.Join(var1, "; "),
			Fix: "take the pool's addresses from the LAN the nodes are on (outside your DHCP range); node addresses: " + strings.Join(nodeList, ", ") +
				fmt.Sprintf(". If the nodes' subnet is larger than /%d, rerun with --subnet-bits-v4 (or --subnet-bits-v6) set to its prefix length", o.SubnetBitsV4)})
	}
	return out
}

// poolSelected reports whether ad covers pool: by name, by selector, or
// because it names and selects no pool at all (then it covers every pool).
func poolSelected(ad *v1alpha1.L2Advertisement, pool *v1alpha1.IPAddressPool) (bool, error) {
	sels, err := v1alpha1.Selectors(ad.Spec.IPAddressPoolSelectors)
	if err != nil {
		return false, err
	}
	return ad.Covers(pool, sels), nil
}

// adNodes returns the nodes (of nodes) ad lets announce: all with no
// nodeSelectors, else those any selector matches.
func adNodes(ad *v1alpha1.L2Advertisement, nodes []*corev1.Node) ([]string, error) {
	sels, err := v1alpha1.Selectors(ad.Spec.NodeSelectors)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range nodes {
		if ad.SelectsNode(n.Labels, sels) {
			out = append(out, n.Name)
		}
	}
	return out, nil
}

func checkAdvertisements(s *Snapshot, _ Options) []Finding {
	const check = "advertisements"
	if f := unreadable(check, s, SourcePools, SourceAdvertisements, SourceNodes); f != nil {
		return f
	}
	var out []Finding
	poolNames := map[string]bool{}
	for _, p := range s.Pools {
		poolNames[p.Name] = true
	}
	nodes := announcingNodes(s)
	for i := range s.Advertisements {
		ad := &s.Advertisements[i]
		obj := objName("L2Advertisement", ad.Namespace, ad.Name)
		for _, name := range ad.Spec.IPAddressPools {
			if !poolNames[name] {
				out = append(out, Finding{Check: check, Severity: Warn, Object: obj,
					Message: fmt.Sprintf("names pool %q, which does not exist in %s", name, s.Namespace),
					Fix:     "fix the name in spec.ipAddressPools (kubectl -n " + ad.Namespace + " get ipaddresspools)"})
			}
		}
		if _, err := adNodes(ad, nodes); err != nil {
			out = append(out, Finding{Check: check, Severity: Fail, Object: obj, Message: fmt.Sprintf("spec.nodeSelectors: %v", err)})
		}
	}
	for i := range s.Pools {
		p := &s.Pools[i]
		obj := objName("IPAddressPool", p.Namespace, p.Name)
		var covering []string
		selected := map[string]bool{}
		for j := range s.Advertisements {
			ad := &s.Advertisements[j]
			ok, err := poolSelected(ad, p)
			if err != nil || !ok {
				continue
			}
			covering = append(covering, ad.Name)
			ns, _ := adNodes(ad, nodes)
			for _, n := range ns {
				selected[n] = true
			}
		}
		switch {
		case len(covering) == 0:
			out = append(out, Finding{Check: check, Severity: Fail, Object: obj,
				Message: "no L2Advertisement covers this pool: its IPs are handed out, but no node answers ARP/NDP for them",
				Fix: fmt.Sprintf("kubectl apply -f - <<EOF\napiVersion: leaselb.io/v1alpha1\nkind: L2Advertisement\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  ipAddressPools:\n  - %s\nEOF",
					p.Name, p.Namespace, p.Name)})
		case len(selected) == 0:
			out = append(out, Finding{Check: check, Severity: Fail, Object: obj,
				Message: fmt.Sprintf("covered by %s, whose nodeSelectors match no node that may announce: nobody answers for this pool's IPs", strings.Join(covering, ", ")),
				Fix:     "kubectl get nodes --show-labels   # and fix spec.nodeSelectors of the advertisement"})
		default:
			out = append(out, Finding{Check: check, Severity: OK, Object: obj,
				Message: fmt.Sprintf("announced through %s from %d node(s)", strings.Join(covering, ", "), len(selected))})
		}
	}
	return out
}

// EventTime is when an Event last happened: its series' last observation,
// else its last timestamp, its event time, its first timestamp.
func EventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	default:
		return e.FirstTimestamp.Time
	}
}

// lastEvent returns the newest Event with reason about the Service.
func lastEvent(s *Snapshot, svc *corev1.Service, reason string) *corev1.Event {
	var best *corev1.Event
	for i := range s.Events {
		e := &s.Events[i]
		if e.Reason != reason || e.InvolvedObject.Kind != "Service" || e.InvolvedObject.Namespace != svc.Namespace || e.InvolvedObject.Name != svc.Name {
			continue
		}
		if e.InvolvedObject.UID != "" && svc.UID != "" && e.InvolvedObject.UID != svc.UID {
			continue // about an earlier Service of the same name
		}
		if best == nil || EventTime(e).After(EventTime(best)) {
			best = e
		}
	}
	return best
}

func checkServiceIPs(s *Snapshot, o Options) []Finding {
	const check = "service-ip"
	if f := unreadable(check, s, SourceServices, SourceEvents); f != nil {
		return f
	}
	var out []Finding
	served, withIP := 0, 0
	for i := range s.Services {
		svc := &s.Services[i]
		if !v1alpha1.Serves(svc, o.RequireClass) {
			continue
		}
		served++
		if len(speaker.ServiceIPs(svc)) > 0 {
			withIP++
			continue
		}
		obj := objName("Service", svc.Namespace, svc.Name)
		age := s.Now.Sub(svc.CreationTimestamp.Time)
		if e := lastEvent(s, svc, ReasonAllocationFailed); e != nil {
			out = append(out, Finding{Check: check, Severity: Fail, Object: obj,
				Message: "has no IP: " + e.Message,
				Fix:     "kubectl -n " + svc.Namespace + " describe service " + svc.Name + "   # the AllocationFailed Event says what to change"})
			continue
		}
		if !svc.CreationTimestamp.IsZero() && age < freshService {
			out = append(out, Finding{Check: check, Severity: Warn, Object: obj,
				Message: fmt.Sprintf("has no IP yet (created %s ago)", age.Round(time.Second))})
			continue
		}
		out = append(out, Finding{Check: check, Severity: Fail, Object: obj,
			Message: "has no IP and no AllocationFailed Event explains why: the controller is not running or not leading (see the controller check), or Events expired",
			Fix:     fmt.Sprintf("kubectl -n %s logs deployment/%s", s.Namespace, ControllerDeployment)})
	}
	if served > 0 && withIP == served {
		out = append([]Finding{{Check: check, Severity: OK,
			Message: fmt.Sprintf("all %d LoadBalancer Service(s) served by leaselb have an IP", served)}}, out...)
	}
	return out
}

// pointers returns pointers to the elements of list, in order.
func pointers[T any](list []T) []*T {
	out := make([]*T, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out
}

// maxNodeReasons caps how many nodes' reasons one finding lists.
const maxNodeReasons = 8

// whyNoHolder says why nobody holds group g: each node's Decision.Message
// from the speaker's own World.Decide. Only a wait for a Local Service's
// first ready endpoint is a warning (expected until a backend pod is ready);
// anything else that keeps every node out, or candidates that claim nothing,
// is a failure.
func whyNoHolder(s *Snapshot, w *speaker.World, g speaker.Group, o Options) (Severity, string) {
	nodes := w.NodeNames()
	if len(nodes) == 0 {
		return Fail, "there is no Linux Node, so no speaker may announce it" + unseen(s)
	}
	var candidates, why []string
	waiting := true
	seen := map[string]bool{}
	for _, n := range nodes {
		d := w.Decide(n, g, o.RequireClass)
		if d.Candidate {
			candidates = append(candidates, n)
			continue
		}
		if d.Reason != speaker.ReasonNoLocalEndpoint {
			waiting = false
		}
		if !seen[d.Message] { // group-level reasons read the same for every node
			seen[d.Message] = true
			why = append(why, d.Message)
		}
	}
	if len(candidates) > 0 {
		return Fail, fmt.Sprintf("no speaker has claimed it although node(s) %s may: are speakers running there (see the speakers check)? kubectl -n %s logs daemonset/%s says why a node does not claim",
			strings.Join(candidates, ", "), s.Namespace, SpeakerDaemonSet)
	}
	if len(why) > maxNodeReasons {
		why = append(why[:maxNodeReasons], fmt.Sprintf("and %d more", len(why)-maxNodeReasons))
	}
	sev := Fail
	if waiting {
		sev = Warn
		why = append(why, "(expected until a backend pod is ready)")
	}
	return sev, "no node may announce it: " + strings.Join(why, "; ") + unseen(s)
}

// unseen names the sources of the World doctor could not read, which make
// whyNoHolder's answer a guess.
func unseen(s *Snapshot) string {
	var missing []string
	for _, src := range []string{SourceNodes, SourcePools, SourceAdvertisements, SourceEndpointSlices} {
		if _, ok := s.Errors[src]; ok {
			missing = append(missing, src)
		}
	}
	if missing == nil {
		return ""
	}
	return " (doctor could not read " + strings.Join(missing, ", ") + ", so this answer may be wrong)"
}

func groupObject(g speaker.Group) string {
	var names, ips []string
	for _, svc := range g.Services {
		names = append(names, svc.Namespace+"/"+svc.Name)
	}
	for _, ip := range g.IPs {
		ips = append(ips, ip.String())
	}
	return fmt.Sprintf("VIP %s (Service %s)", strings.Join(ips, ","), strings.Join(names, ", "))
}

func checkVIPHolders(s *Snapshot, o Options) []Finding {
	const check = "vip-holder"
	if f := unreadable(check, s, SourceServices, SourceLeases); f != nil {
		return f
	}
	groups, _ := speaker.Groups(pointers(s.Services), o.RequireClass)
	w := World(s)
	var out []Finding
	held := 0
	for _, g := range groups {
		obj := groupObject(g)
		lease := findLease(s, g.Name)
		if lease == nil {
			sev, why := whyNoHolder(s, w, g, o)
			out = append(out, Finding{Check: check, Severity: sev, Object: obj,
				Message: "no node announces it (no VIP lease " + g.Name + "): " + why})
			continue
		}
		holder := ""
		if lease.Spec.HolderIdentity != nil {
			holder = *lease.Spec.HolderIdentity
		}
		if holder == "" {
			sev, why := whyNoHolder(s, w, g, o)
			released := ""
			if by := lease.Annotations[election.AnnotationReleasedBy]; by != "" {
				released = " (released by " + by + ")"
			}
			out = append(out, Finding{Check: check, Severity: sev, Object: obj,
				Message: "no node announces it: lease " + g.Name + " has no holder" + released + ": " + why})
			continue
		}
		nl, age, fresh := HolderLease(s, holder)
		if nl == nil {
			out = append(out, Finding{Check: check, Severity: Fail, Object: obj,
				Message: fmt.Sprintf("lease %s names holder %s, which has no node lease %s: nobody announces it", g.Name, holder, election.NodeLeaseName(holder)),
				Fix:     "kubectl -n " + s.Namespace + " get leases; check the speaker on " + holder})
			continue
		}
		if !fresh {
			out = append(out, Finding{Check: check, Severity: Fail, Object: obj,
				Message: fmt.Sprintf("held by %s, whose node lease was last renewed %s ago (duration %s): that speaker is gone and no other node took over",
					holder, age.Round(time.Second), leaseDuration(nl, election.DefaultNodeLeaseDuration)),
				Fix: "see the speakers check; kubectl -n " + s.Namespace + " logs daemonset/" + SpeakerDaemonSet})
			continue
		}
		held++
	}
	if len(groups) > 0 && held == len(groups) {
		out = append([]Finding{{Check: check, Severity: OK,
			Message: fmt.Sprintf("all %d VIP group(s) have a holder with a fresh node lease", len(groups))}}, out...)
	}
	return out
}

func checkConflicts(s *Snapshot, _ Options) []Finding {
	const check = "ip-conflict"
	if f := unreadable(check, s, SourceEvents); f != nil {
		return f
	}
	var out []Finding
	for i := range s.Events {
		e := &s.Events[i]
		if e.Reason != ReasonIPConflict {
			continue
		}
		// A conflict on a Service that has since been deleted (or
		// recreated) is history: its VIP is no longer announced.
		if e.InvolvedObject.Kind == "Service" && !serviceExists(s, e.InvolvedObject) {
			continue
		}
		count := e.Count
		if e.Series != nil {
			count = e.Series.Count
		}
		if count < 1 {
			count = 1
		}
		ago := s.Now.Sub(EventTime(e)).Round(time.Second)
		out = append(out, Finding{Check: check, Severity: Fail,
			Object:  objName(e.InvolvedObject.Kind, e.InvolvedObject.Namespace, e.InvolvedObject.Name),
			Message: fmt.Sprintf("%s (seen %d time(s), last %s ago, reported by %s)", e.Message, count, ago, eventSource(e)),
			Fix:     "another host on the LAN uses this IP: remove it from that host (or its DHCP range), or take the address out of the pool"})
	}
	if len(out) == 0 {
		return []Finding{{Check: check, Severity: OK, Message: "no IPConflict Events (Events are kept for an hour by default)"}}
	}
	return out
}

// serviceExists reports whether the Service an Event is about still exists
// (the same object, when the Event carries its UID). Only LoadBalancer
// Services are in the Snapshot, which are the only ones with VIPs.
func serviceExists(s *Snapshot, ref corev1.ObjectReference) bool {
	for i := range s.Services {
		svc := &s.Services[i]
		if svc.Namespace == ref.Namespace && svc.Name == ref.Name && (ref.UID == "" || svc.UID == "" || svc.UID == ref.UID) {
			return true
		}
	}
	return false
}

func eventSource(e *corev1.Event) string {
	switch {
	case e.Source.Host != "":
		return e.Source.Component + " on " + e.Source.Host
	case e.ReportingInstance != "":
		return e.ReportingInstance
	case e.Source.Component != "":
		return e.Source.Component
	default:
		return "a speaker"
	}
}
