package doctor

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/leaselb/leaselb/api/v1alpha1"
	"github.com/leaselb/leaselb/internal/speaker"
)

const ns = "leaselb-system"

var now = time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)

func node(name string, ips ...string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelOSStable: "linux"}}}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	return n
}

func withLabel(n corev1.Node, k, v string) corev1.Node {
	n.Labels[k] = v
	return n
}

func withTaint(n corev1.Node, key string, effect corev1.TaintEffect) corev1.Node {
	n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: effect})
	return n
}

func notReady(n corev1.Node) corev1.Node {
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}
	return n
}

func pool(name string, addrs ...string) v1alpha1.IPAddressPool {
	p := v1alpha1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"pool": name}}}
	for _, a := range addrs {
		p.Spec.Addresses = append(p.Spec.Addresses, v1alpha1.AddressRange(a))
	}
	return p
}

func ad(name string, pools ...string) v1alpha1.L2Advertisement {
	return v1alpha1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: v1alpha1.L2AdvertisementSpec{IPAddressPools: pools}}
}

func svc(name string, ips ...string) corev1.Service {
	s := corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-default-" + name), CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster},
	}
	for _, ip := range ips {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return s
}

func local(s corev1.Service) corev1.Service {
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	return s
}

func lease(name, holder string, ago time.Duration) coordinationv1.Lease {
	return coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(holder),
			LeaseDurationSeconds: ptr.To[int32](2),
			RenewTime:            ptr.To(metav1.NewMicroTime(now.Add(-ago))),
		},
	}
}

func event(reason, service, msg string) corev1.Event {
	return corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: service + "." + reason, Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Service", Namespace: "default", Name: service, UID: types.UID("uid-default-" + service)},
		Reason:         reason, Message: msg, Count: 3,
		LastTimestamp: metav1.NewTime(now.Add(-time.Minute)),
		Source:        corev1.EventSource{Component: "leaselb-speaker", Host: "n1"},
	}
}

func readyPod(name, nodeName string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{ComponentLabel: "speaker"}},
		Spec:       corev1.PodSpec{NodeName: nodeName},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func snap(mod func(*Snapshot)) *Snapshot {
	s := &Snapshot{Namespace: ns, Now: now, Resources: map[string]bool{}, Errors: map[string]string{}}
	mod(s)
	return s
}

// want is one expected finding: its severity, a part of its object and a
// part of its message (or fix).
type want struct {
	sev    Severity
	object string
	text   string
}

func runCheck(t *testing.T, name string, s *Snapshot, o Options) []Finding {
	t.Helper()
	for _, c := range Checks {
		if c.Name == name {
			return c.run(s, o.withDefaults())
		}
	}
	t.Fatalf("no check %q", name)
	return nil
}

func expect(t *testing.T, got []Finding, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d findings, want %d:\n%s", len(got), len(wants), dump(got))
	}
	for i, w := range wants {
		g := got[i]
		if g.Severity != w.sev || !strings.Contains(g.Object, w.object) || !strings.Contains(g.Message+"\n"+g.Fix, w.text) {
			t.Errorf("finding %d: got %s %q %q (fix %q), want %s with object ~%q and text ~%q", i, g.Severity, g.Object, g.Message, g.Fix, w.sev, w.object, w.text)
		}
	}
}

func dump(fs []Finding) string {
	var b bytes.Buffer
	_ = WriteText(&b, NewReport(ns, fs))
	return b.String()
}

func kubeProxy(conf string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: KubeProxyConfigMap, Namespace: KubeProxyNamespace},
		Data: map[string]string{"config.conf": conf, "kubeconfig.conf": "apiVersion: v1\nkind: Config\n"}}
}

func TestKubeProxy(t *testing.T) {
	const head = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
	tests := []struct {
		name string
		cm   *corev1.ConfigMap
		err  string
		want want
	}{
		{"absent", nil, "", want{Warn, "kube-proxy", "cannot check strictARP"}},
		{"unreadable", nil, "forbidden", want{Warn, "", "could not read kube-proxy: forbidden"}},
		{"ipvs strictARP false", kubeProxy(head + "mode: \"ipvs\"\nipvs:\n  strictARP: false\n"), "", want{Fail, "ConfigMap kube-system/kube-proxy", `sed -e "s/strictARP: false/strictARP: true/"`}},
		{"ipvs strictARP false, fix names the edit", kubeProxy(head + "mode: ipvs\nipvs:\n  strictARP: false\n"), "", want{Fail, "", "kubectl edit configmap -n kube-system kube-proxy"}},
		{"ipvs strictARP false, restart", kubeProxy(head + "mode: ipvs\nipvs:\n  strictARP: false\n"), "", want{Fail, "", "kubectl rollout restart daemonset kube-proxy -n kube-system"}},
		{"ipvs strictARP unset", kubeProxy(head + "mode: ipvs\nipvs:\n  scheduler: rr\n"), "", want{Fail, "", "add strictARP: true"}},
		{"ipvs strictARP true", kubeProxy(head + "mode: ipvs\nipvs:\n  strictARP: true\n"), "", want{OK, "", "strictARP true"}},
		{"IPVS in capitals", kubeProxy(head + "mode: IPVS\nipvs:\n  strictARP: true\n"), "", want{OK, "", "strictARP true"}},
		{"default mode", kubeProxy(head + "mode: \"\"\n"), "", want{OK, "", "iptables (the default)"}},
		{"iptables", kubeProxy(head + "mode: iptables\nipvs:\n  strictARP: false\n"), "", want{OK, "", "mode iptables"}},
		{"nftables", kubeProxy(head + "mode: nftables\n"), "", want{OK, "", "mode nftables"}},
		{"unknown mode", kubeProxy(head + "mode: kernelspace\n"), "", want{Warn, "", "not one doctor knows"}},
		{"not YAML", kubeProxy("mode: [ipvs\n"), "", want{Warn, "", "cannot parse config.conf"}},
		{"no KubeProxyConfiguration", &corev1.ConfigMap{Data: map[string]string{"other": "x"}}, "", want{Warn, "", "no config.conf"}},
		{"other key name", &corev1.ConfigMap{Data: map[string]string{"kube-proxy.yaml": head + "mode: ipvs\n"}}, "", want{Fail, "", "strictARP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := snap(func(s *Snapshot) {
				s.KubeProxy = tt.cm
				if tt.err != "" {
					s.Errors[SourceKubeProxy] = tt.err
				}
			})
			expect(t, runCheck(t, "kube-proxy", s, Options{}), []want{tt.want})
		})
	}
}

func TestCRDs(t *testing.T) {
	tests := []struct {
		name      string
		resources []string
		want      want
	}{
		{"both", []string{"ipaddresspools", "l2advertisements", "ipaddresspools/status"}, want{OK, "", "installed"}},
		{"none", nil, want{Fail, "", "ipaddresspools.leaselb.io and l2advertisements.leaselb.io"}},
		{"one missing", []string{"ipaddresspools"}, want{Fail, "", "does not serve l2advertisements.leaselb.io"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := snap(func(s *Snapshot) {
				for _, r := range tt.resources {
					s.Resources[r] = true
				}
			})
			expect(t, runCheck(t, "crds", s, Options{}), []want{tt.want})
		})
	}
}

func TestController(t *testing.T) {
	ctrl := func(holder string, ago time.Duration) coordinationv1.Lease {
		l := lease(ControllerLease, holder, ago)
		l.Spec.LeaseDurationSeconds = ptr.To[int32](15)
		return l
	}
	tests := []struct {
		name   string
		leases []coordinationv1.Lease
		ready  int32
		want   want
	}{
		{"leading", []coordinationv1.Lease{ctrl("controller-abc", 3*time.Second)}, 2, want{OK, "Lease leaselb-system/leaselb-controller", `"controller-abc" leads`}},
		{"no lease, nothing ready", nil, 0, want{Fail, "", "no controller is leading"}},
		{"no lease but ready replicas", nil, 1, want{Warn, "", "without --leader-elect"}},
		{"released", []coordinationv1.Lease{ctrl("", time.Second)}, 0, want{Fail, "", "no controller is leading"}},
		{"stale", []coordinationv1.Lease{ctrl("controller-abc", time.Minute)}, 0, want{Fail, "", "last renewed 1m0s ago"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := snap(func(s *Snapshot) {
				s.Leases = tt.leases
				s.Controller = &appsv1.Deployment{Status: appsv1.DeploymentStatus{ReadyReplicas: tt.ready}}
			})
			expect(t, runCheck(t, "controller", s, Options{}), []want{tt.want})
		})
	}
}

func TestSpeakers(t *testing.T) {
	ds := &appsv1.DaemonSet{}
	ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{
		{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	tests := []struct {
		name   string
		nodes  []corev1.Node
		pods   []corev1.Pod
		leases []coordinationv1.Lease
		ds     *appsv1.DaemonSet
		want   []want
	}{
		{"pods on every node", []corev1.Node{node("n1", "192.0.2.11"), node("n2", "192.0.2.12")},
			[]corev1.Pod{readyPod("speaker-a", "n1"), readyPod("speaker-b", "n2")}, nil, ds,
			[]want{{OK, "", "each of the 2 node(s)"}}},
		{"node leases stand in for pods (the lab)", []corev1.Node{node("n1", "192.0.2.11"), node("n2", "192.0.2.12")},
			nil, []coordinationv1.Lease{lease("node-n1", "n1", 9*time.Second), lease("node-n2", "n2", time.Second)}, nil,
			[]want{{OK, "", "each of the 2 node(s)"}}},
		{"stale node lease and no pod", []corev1.Node{node("n1", "192.0.2.11")},
			nil, []coordinationv1.Lease{lease("node-n1", "n1", 2*time.Minute)}, nil,
			[]want{{Fail, "Node n1", "no speaker runs on this node"}}},
		{"excluded node needs none", []corev1.Node{node("n1", "192.0.2.11"), withLabel(node("n2", "192.0.2.12"), v1alpha1.LabelExcludeFromLB, "")},
			[]corev1.Pod{readyPod("speaker-a", "n1")}, nil, ds,
			[]want{{OK, "", "each of the 1 node(s)"}}},
		{"windows node needs none", []corev1.Node{node("n1", "192.0.2.11"), withLabel(node("w1", "192.0.2.12"), corev1.LabelOSStable, "windows")},
			[]corev1.Pod{readyPod("speaker-a", "n1")}, nil, ds,
			[]want{{OK, "", "each of the 1 node(s)"}}},
		{"pod not ready", []corev1.Node{node("n1", "192.0.2.11")},
			[]corev1.Pod{func() corev1.Pod {
				p := readyPod("speaker-a", "n1")
				p.Status.Conditions[0].Status = corev1.ConditionFalse
				return p
			}()}, nil, ds,
			[]want{{Fail, "Node n1", "kubectl -n leaselb-system get pods -o wide -l app.kubernetes.io/component=speaker --field-selector spec.nodeName=n1"}}},
		{"node not ready", []corev1.Node{node("n1", "192.0.2.11"), notReady(node("n2", "192.0.2.12"))},
			[]corev1.Pod{readyPod("speaker-a", "n1")}, nil, ds,
			[]want{{Warn, "Node n2", "not Ready"}}},
		{"untolerated taint", []corev1.Node{withTaint(node("n1", "192.0.2.11"), "gpu", corev1.TaintEffectNoSchedule)},
			nil, nil, ds,
			[]want{{Fail, "Node n1", "does not tolerate the node's taint gpu=:NoSchedule"}}},
		{"control-plane taint is tolerated, so the pod is just missing", []corev1.Node{withTaint(node("cp", "192.0.2.11"), "node-role.kubernetes.io/control-plane", corev1.TaintEffectNoSchedule)},
			nil, nil, ds,
			[]want{{Fail, "Node cp", "no speaker runs on this node"}}},
		{"condition taints are tolerated by every DaemonSet", []corev1.Node{withTaint(node("n1", "192.0.2.11"), "node.kubernetes.io/not-ready", corev1.TaintEffectNoSchedule)},
			nil, nil, ds,
			[]want{{Fail, "Node n1", "no speaker runs on this node"}}},
		{"PreferNoSchedule does not keep it out", []corev1.Node{withTaint(node("n1", "192.0.2.11"), "soft", corev1.TaintEffectPreferNoSchedule)},
			nil, nil, ds,
			[]want{{Fail, "Node n1", "no speaker runs on this node"}}},
		{"no DaemonSet at all", []corev1.Node{node("n1", "192.0.2.11")}, nil, nil, nil,
			[]want{{Fail, "Node n1", "install leaselb"}}},
		{"every node excluded", []corev1.Node{withLabel(node("n1", "192.0.2.11"), v1alpha1.LabelExcludeFromLB, "true")}, nil, nil, ds,
			[]want{{Fail, "", "no node may announce"}}},
		{"no nodes", nil, nil, nil, ds, []want{{Warn, "", "no Nodes"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := snap(func(s *Snapshot) {
				s.Nodes, s.Pods, s.Leases, s.Speaker = tt.nodes, tt.pods, tt.leases, tt.ds
			})
			expect(t, runCheck(t, "speakers", s, Options{}), tt.want)
		})
	}
}

func TestPoolSubnet(t *testing.T) {
	lab := []corev1.Node{node("n1", "192.0.2.11", "2001:db8::11"), node("n2", "192.0.2.12", "2001:db8::12")}
	v4only := []corev1.Node{node("n1", "192.0.2.11")}
	tests := []struct {
		name  string
		nodes []corev1.Node
		pools []v1alpha1.IPAddressPool
		opts  Options
		want  []want
	}{
		{"walkthrough-style range in the nodes' /24", lab, []v1alpha1.IPAddressPool{pool("lan", "192.0.2.190-192.0.2.199")}, Options{},
			[]want{{OK, "IPAddressPool leaselb-system/lan", "every address"}}},
		{"CIDR in the /24", lab, []v1alpha1.IPAddressPool{pool("lan", "192.0.2.192/28")}, Options{}, []want{{OK, "", ""}}},
		{"IPv6 in the /64", lab, []v1alpha1.IPAddressPool{pool("v6", "2001:db8::100-2001:db8::1ff")}, Options{}, []want{{OK, "", ""}}},
		{"outside every subnet", lab, []v1alpha1.IPAddressPool{pool("far", "198.51.100.10-198.51.100.20")}, Options{},
			[]want{{Fail, "IPAddressPool leaselb-system/far", "198.51.100.10-198.51.100.20 is outside every node's subnet"}}},
		{"outside names the node addresses", lab, []v1alpha1.IPAddressPool{pool("far", "203.0.113.0/24")}, Options{},
			[]want{{Fail, "", "n1 192.0.2.11"}}},
		{"same /16 only is a warning", lab, []v1alpha1.IPAddressPool{pool("near", "192.0.3.10-192.0.3.20")}, Options{},
			[]want{{Warn, "", "shares only a /23"}}},
		{"a larger LAN by flag", lab, []v1alpha1.IPAddressPool{pool("near", "192.0.3.10-192.0.3.20")}, Options{SubnetBitsV4: 22}, []want{{OK, "", ""}}},
		{"range wider than a /24 inside it", []corev1.Node{node("n1", "10.1.2.3")}, []v1alpha1.IPAddressPool{pool("big", "10.1.0.0/16")}, Options{}, []want{{OK, "", ""}}},
		{"IPv6 pool, no IPv6 node", v4only, []v1alpha1.IPAddressPool{pool("v6", "2001:db8::/120")}, Options{},
			[]want{{Fail, "", "no node has an IPv6 InternalIP"}}},
		{"worst entry wins", lab, []v1alpha1.IPAddressPool{pool("mixed", "192.0.2.200/29", "192.0.3.5-192.0.3.6", "198.51.100.1-198.51.100.2")}, Options{},
			[]want{{Fail, "", "198.51.100.1-198.51.100.2 is outside"}}},
		{"one finding per pool", lab, []v1alpha1.IPAddressPool{pool("a", "192.0.2.200/29"), pool("b", "198.51.100.0/29")}, Options{},
			[]want{{OK, "leaselb-system/a", ""}, {Fail, "leaselb-system/b", "outside"}}},
		{"ExternalIP when no InternalIP", []corev1.Node{func() corev1.Node {
			n := node("n1")
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeExternalIP, Address: "203.0.113.5"}}
			return n
		}()}, []v1alpha1.IPAddressPool{pool("ext", "203.0.113.100-203.0.113.110")}, Options{}, []want{{OK, "", ""}}},
		{"no node addresses", []corev1.Node{node("n1")}, []v1alpha1.IPAddressPool{pool("lan", "192.0.2.0/28")}, Options{},
			[]want{{Warn, "", "cannot check"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := snap(func(s *Snapshot) { s.Nodes, s.Pools = tt.nodes, tt.pools })
			expect(t, runCheck(t, "pool-subnet", s, tt.opts), tt.want)
		})
	}
}

func TestCommonBits(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"192.0.2.1", "192.0.2.1", 32},
		{"192.0.2.1", "192.0.2.254", 24},
		{"192.0.2.1", "192.0.3.1", 23},
		{"192.0.2.1", "198.51.100.1", 5},
		{"2001:db8::1", "2001:db8::8000:0:0:1", 64},
		{"2001:db8::1", "2001:db8:0:1::1", 63},
		{"2001:db8::1", "2001:db8::1", 128},
	}
	for _, tt := range tests {
		if got := commonBits(mustAddr(t, tt.a), mustAddr(t, tt.b)); got != tt.want {
			t.Errorf("commonBits(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestPools(t *testing.T) {
	invalid := pool("bad", "192.0.2.0/28")
	invalid.Status.Conditions = []metav1.Condition{{Type: "Valid", Status: "False", Reason: "Overlap", Message: "overlaps pool lan at 192.0.2.0"}}
	good := pool("lan", "192.0.2.0/28")
	good.Status.AssignedIPv4, good.Status.AvailableIPv4 = 3, 13
	tests := []struct {
		name  string
		pools []v1alpha1.IPAddressPool
		want  []want
	}{
		{"none", nil, []want{{Fail, "", "no IPAddressPool"}}},
		{"valid", []v1alpha1.IPAddressPool{good}, []want{{OK, "leaselb-system/lan", "3/16 IPv4"}}},
		{"invalid", []v1alpha1.IPAddressPool{invalid}, []want{{Fail, "leaselb-system/bad", "overlaps pool lan"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, runCheck(t, "pools", snap(func(s *Snapshot) { s.Pools = tt.pools }), Options{}), tt.want)
		})
	}
}

func TestAdvertisements(t *testing.T) {
	nodes := []corev1.Node{withLabel(node("n1", "192.0.2.11"), "zone", "a"), node("n2", "192.0.2.12")}
	selAd := func(name string, poolLabel string, nodeZone string) v1alpha1.L2Advertisement {
		a := ad(name)
		if poolLabel != "" {
			a.Spec.IPAddressPoolSelectors = []v1alpha1.LabelSelector{{MatchLabels: map[string]string{"pool": poolLabel}}}
		}
		if nodeZone != "" {
			a.Spec.NodeSelectors = []v1alpha1.LabelSelector{{MatchLabels: map[string]string{"zone": nodeZone}}}
		}
		return a
	}
	tests := []struct {
		name  string
		pools []v1alpha1.IPAddressPool
		ads   []v1alpha1.L2Advertisement
		want  []want
	}{
		{"no advertisement", []v1alpha1.IPAddressPool{pool("first-pool", "192.0.2.0/28")}, nil,
			[]want{{Fail, "IPAddressPool leaselb-system/first-pool", "no L2Advertisement covers this pool"}}},
		{"fix is an advertisement to apply", []v1alpha1.IPAddressPool{pool("first-pool", "192.0.2.0/28")}, nil,
			[]want{{Fail, "", "kind: L2Advertisement\nmetadata:\n  name: first-pool\n  namespace: leaselb-system\nspec:\n  ipAddressPools:\n  - first-pool"}}},
		{"by name", []v1alpha1.IPAddressPool{pool("first-pool", "192.0.2.0/28")}, []v1alpha1.L2Advertisement{ad("mt-network-l2", "first-pool")},
			[]want{{OK, "first-pool", "announced through mt-network-l2 from 2 node(s)"}}},
		{"empty advertisement covers every pool", []v1alpha1.IPAddressPool{pool("a", "192.0.2.0/28"), pool("b", "192.0.2.16/28")}, []v1alpha1.L2Advertisement{ad("all")},
			[]want{{OK, "/a", "all"}, {OK, "/b", "all"}}},
		{"by pool selector", []v1alpha1.IPAddressPool{pool("a", "192.0.2.0/28"), pool("b", "192.0.2.16/28")}, []v1alpha1.L2Advertisement{selAd("only-b", "b", "")},
			[]want{{Fail, "/a", "no L2Advertisement"}, {OK, "/b", "only-b"}}},
		{"node selector narrows", []v1alpha1.IPAddressPool{pool("a", "192.0.2.0/28")}, []v1alpha1.L2Advertisement{selAd("zone-a", "a", "a")},
			[]want{{OK, "/a", "from 1 node(s)"}}},
		{"node selector matches nothing", []v1alpha1.IPAddressPool{pool("a", "192.0.2.0/28")}, []v1alpha1.L2Advertisement{selAd("zone-z", "a", "z")},
			[]want{{Fail, "/a", "match no node"}}},
		{"unknown pool name", []v1alpha1.IPAddressPool{pool("a", "192.0.2.0/28")}, []v1alpha1.L2Advertisement{ad("typo", "a", "frist-pool")},
			[]want{{Warn, "L2Advertisement leaselb-system/typo", `"frist-pool"`}, {OK, "/a", "typo"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := snap(func(s *Snapshot) { s.Nodes, s.Pools, s.Advertisements = nodes, tt.pools, tt.ads })
			expect(t, runCheck(t, "advertisements", s, Options{}), tt.want)
		})
	}
}

func TestServiceIPs(t *testing.T) {
	fresh := svc("new")
	fresh.CreationTimestamp = metav1.NewTime(now.Add(-5 * time.Second))
	other := svc("other")
	other.Spec.LoadBalancerClass = ptr.To("example.com/cloud")
	classed := svc("classed", "192.0.2.7")
	classed.Spec.LoadBalancerClass = ptr.To(v1alpha1.LoadBalancerClass)
	recreated := event(ReasonAllocationFailed, "stuck", "old message")
	recreated.InvolvedObject.UID = "an-earlier-service"
	tests := []struct {
		name   string
		svcs   []corev1.Service
		events []corev1.Event
		opts   Options
		want   []want
	}{
		{"all have IPs", []corev1.Service{svc("a", "192.0.2.1"), classed}, nil, Options{}, []want{{OK, "", "all 2"}}},
		{"stuck with the controller's reason", []corev1.Service{svc("a", "192.0.2.1"), svc("stuck")},
			[]corev1.Event{event(ReasonAllocationFailed, "stuck", `pool "lan" has no free IPv4 address`)}, Options{},
			[]want{{Fail, "Service default/stuck", `has no IP: pool "lan" has no free IPv4 address`}}},
		{"event about an earlier Service of that name", []corev1.Service{svc("stuck")}, []corev1.Event{recreated}, Options{},
			[]want{{Fail, "Service default/stuck", "no AllocationFailed Event"}}},
		{"just created", []corev1.Service{fresh}, nil, Options{}, []want{{Warn, "default/new", "no IP yet"}}},
		{"another class is not ours", []corev1.Service{other}, nil, Options{}, nil},
		{"require-class: no class is not ours", []corev1.Service{svc("noclass")}, nil, Options{RequireClass: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := snap(func(s *Snapshot) { s.Services, s.Events = tt.svcs, tt.events })
			expect(t, runCheck(t, "service-ip", s, tt.opts), tt.want)
		})
	}
}

func TestVIPHolders(t *testing.T) {
	lanPool := []v1alpha1.IPAddressPool{pool("lan", "192.0.2.0/24", "2001:db8::/120")}
	lanAd := []v1alpha1.L2Advertisement{ad("lan", "lan")}
	released := lease("vip-192.0.2.10", "", time.Second)
	released.Annotations = map[string]string{"leaselb.io/released-by": "n2"}
	slice := func(svcName, nodeName string, ready bool) discoveryv1.EndpointSlice {
		return discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: svcName + "-x", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: svcName}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, NodeName: ptr.To(nodeName), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}},
		}
	}
	tests := []struct {
		name   string
		svcs   []corev1.Service
		leases []coordinationv1.Lease
		pools  []v1alpha1.IPAddressPool
		ads    []v1alpha1.L2Advertisement
		slices []discoveryv1.EndpointSlice
		want   []want
	}{
		{"held, node lease fresh", []corev1.Service{svc("web", "192.0.2.10")},
			[]coordinationv1.Lease{lease("vip-192.0.2.10", "n1", time.Minute), lease("node-n1", "n1", time.Second)}, lanPool, lanAd, nil,
			[]want{{OK, "", "all 1 VIP group(s)"}}},
		{"dual-stack group named by its IPv4", []corev1.Service{svc("web", "2001:db8::10", "192.0.2.10")},
			[]coordinationv1.Lease{lease("vip-192.0.2.10", "n1", time.Minute), lease("node-n1", "n1", time.Second)}, lanPool, lanAd, nil,
			[]want{{OK, "", "all 1"}}},
		{"IPv6 group name", []corev1.Service{svc("web6", "2001:db8::10")},
			[]coordinationv1.Lease{lease("vip-2001-db8--10", "n1", time.Minute), lease("node-n1", "n1", time.Second)}, lanPool, lanAd, nil,
			[]want{{OK, "", "all 1"}}},
		{"no lease, pool advertised", []corev1.Service{svc("web", "192.0.2.10")}, nil, lanPool, lanAd, nil,
			[]want{{Fail, "VIP 192.0.2.10 (Service default/web)", "no speaker has claimed it"}}},
		{"no lease, pool not advertised", []corev1.Service{svc("web", "192.0.2.10")}, nil, lanPool, nil, nil,
			[]want{{Fail, "VIP 192.0.2.10", `IPAddressPool "lan", which no L2Advertisement covers`}}},
		{"no lease, IP in no pool", []corev1.Service{svc("web", "198.51.100.1")}, nil, lanPool, lanAd, nil,
			[]want{{Fail, "", "198.51.100.1 is in no IPAddressPool"}}},
		{"released and not claimed", []corev1.Service{svc("web", "192.0.2.10")}, []coordinationv1.Lease{released}, lanPool, lanAd, nil,
			[]want{{Fail, "", "has no holder (released by n2)"}}},
		{"holder's node lease stale", []corev1.Service{svc("web", "192.0.2.10")},
			[]coordinationv1.Lease{lease("vip-192.0.2.10", "n1", time.Minute), lease("node-n1", "n1", 30*time.Second)}, lanPool, lanAd, nil,
			[]want{{Fail, "", "held by n1, whose node lease was last renewed 30s ago"}}},
		{"holder without a node lease", []corev1.Service{svc("web", "192.0.2.10")},
			[]coordinationv1.Lease{lease("vip-192.0.2.10", "n9", time.Minute)}, lanPool, lanAd, nil,
			[]want{{Fail, "", "holder n9, which has no node lease node-n9"}}},
		{"ETP Local without ready endpoints is expected", []corev1.Service{local(svc("almighty", "192.0.2.10"))}, nil, lanPool, lanAd,
			[]discoveryv1.EndpointSlice{slice("almighty", "n1", false)},
			[]want{{Warn, "", "node n1 has no ready endpoint of it; group vip-192.0.2.10: default/almighty has externalTrafficPolicy Local and node n2 has no ready endpoint"}}},
		{"ETP Local with a ready endpoint but no lease", []corev1.Service{local(svc("almighty", "192.0.2.10"))}, nil, lanPool, lanAd,
			[]discoveryv1.EndpointSlice{slice("almighty", "n1", true)},
			[]want{{Fail, "", "no speaker has claimed it"}}},
		{"shared IP: one group", []corev1.Service{svc("a", "192.0.2.10"), svc("b", "192.0.2.10")},
			[]coordinationv1.Lease{lease("vip-192.0.2.10", "n1", time.Minute), lease("node-n1", "n1", time.Second)}, lanPool, lanAd, nil,
			[]want{{OK, "", "all 1 VIP group(s)"}}},
		{"Services without IP form no group", []corev1.Service{svc("pending")}, nil, lanPool, lanAd, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := snap(func(s *Snapshot) {
				s.Services, s.Leases, s.Pools, s.Advertisements, s.EndpointSlices = tt.svcs, tt.leases, tt.pools, tt.ads, tt.slices
				s.Nodes = []corev1.Node{node("n1"), node("n2")}
			})
			expect(t, runCheck(t, "vip-holder", s, Options{}), tt.want)
		})
	}
}

func TestConflicts(t *testing.T) {
	recreated := event(ReasonIPConflict, "web", "old")
	recreated.InvolvedObject.UID = "an-earlier-web"
	tests := []struct {
		name   string
		events []corev1.Event
		want   []want
	}{
		{"none", nil, []want{{OK, "", "no IPConflict"}}},
		{"one", []corev1.Event{event(ReasonIPConflict, "web", "192.0.2.10 is claimed by 02:00:00:00:00:99, which is no speaker")},
			[]want{{Fail, "Service default/web", "which is no speaker (seen 3 time(s), last 1m0s ago, reported by leaselb-speaker on n1)"}}},
		{"allocation failures are not conflicts", []corev1.Event{event(ReasonAllocationFailed, "web", "x")}, []want{{OK, "", ""}}},
		{"a deleted Service's conflict is history", []corev1.Event{event(ReasonIPConflict, "gone", "x")}, []want{{OK, "", "no IPConflict"}}},
		{"an earlier Service of the same name", []corev1.Event{recreated}, []want{{OK, "", "no IPConflict"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := snap(func(s *Snapshot) { s.Events, s.Services = tt.events, []corev1.Service{svc("web", "192.0.2.10")} })
			expect(t, runCheck(t, "ip-conflict", s, Options{}), tt.want)
		})
	}
}

// TestUnreadableSourcesWarn: a source doctor may not read is a warning that
// says so, never a false "all good" or a false problem.
func TestUnreadableSourcesWarn(t *testing.T) {
	s := snap(func(s *Snapshot) {
		for _, src := range []string{SourceKubeProxy, SourceResources, SourceNodes, SourcePods, SourcePools, SourceAdvertisements, SourceServices, SourceLeases, SourceEvents} {
			s.Errors[src] = "forbidden"
		}
	})
	for _, f := range Run(s, Options{}) {
		if f.Severity != Warn || !strings.Contains(f.Message, "could not read") {
			t.Errorf("%s: got %s %q, want a could-not-read warning", f.Check, f.Severity, f.Message)
		}
	}
}

// healthy is a cluster with nothing wrong: the walkthrough's objects.
func healthy() *Snapshot {
	return snap(func(s *Snapshot) {
		s.KubeProxy = kubeProxy("kind: KubeProxyConfiguration\nmode: ipvs\nipvs:\n  strictARP: true\n")
		s.Resources = map[string]bool{"ipaddresspools": true, "l2advertisements": true}
		s.Nodes = []corev1.Node{node("n1", "192.0.2.11"), node("n2", "192.0.2.12")}
		s.Pods = []corev1.Pod{readyPod("speaker-a", "n1"), readyPod("speaker-b", "n2")}
		s.Pools = []v1alpha1.IPAddressPool{pool("first-pool", "192.0.2.190-192.0.2.199")}
		s.Advertisements = []v1alpha1.L2Advertisement{ad("mt-network-l2", "first-pool")}
		s.Services = []corev1.Service{svc("sample-lb", "192.0.2.191")}
		ctrl := lease(ControllerLease, "controller-1", time.Second)
		s.Leases = []coordinationv1.Lease{ctrl, lease("vip-192.0.2.191", "n2", time.Minute), lease("node-n2", "n2", time.Second)}
	})
}

func TestRunHealthyAndBroken(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(*Snapshot)
		want    Severity
		check   string
	}{
		{"healthy", func(*Snapshot) {}, OK, ""},
		{"strictARP off", func(s *Snapshot) {
			s.KubeProxy = kubeProxy("kind: KubeProxyConfiguration\nmode: ipvs\nipvs:\n  strictARP: false\n")
		}, Fail, "kube-proxy"},
		{"pool outside every subnet", func(s *Snapshot) {
			s.Pools = append(s.Pools, pool("far", "198.51.100.10-198.51.100.20"))
			s.Advertisements[0].Spec.IPAddressPools = append(s.Advertisements[0].Spec.IPAddressPools, "far")
		}, Fail, "pool-subnet"},
		{"no advertisement", func(s *Snapshot) { s.Advertisements = nil }, Fail, "advertisements"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := healthy()
			tt.breakIt(s)
			fs := Run(s, Options{})
			if got := Worst(fs); got != tt.want {
				t.Fatalf("worst = %s, want %s:\n%s", got, tt.want, dump(fs))
			}
			if tt.check != "" {
				found := false
				for _, f := range fs {
					if f.Check == tt.check && f.Severity == Fail {
						found = true
					}
				}
				if !found {
					t.Errorf("no failing %s finding:\n%s", tt.check, dump(fs))
				}
			}
		})
	}
}

func TestOutput(t *testing.T) {
	fs := Run(healthy(), Options{})
	fs = append(fs, Finding{Check: "kube-proxy", Severity: Fail, Object: "ConfigMap kube-system/kube-proxy", Message: "m", Fix: "line one\nline two"})
	r := NewReport(ns, fs)

	var text bytes.Buffer
	if err := WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"[FAIL] kube-proxy     ConfigMap kube-system/kube-proxy: m\n", "fix: line one\n", "     line two\n", "1 problem(s) and 0 warning(s) found"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text output lacks %q:\n%s", s, text.String())
		}
	}

	var js bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Status != Fail || back.Counts[Fail] != 1 || len(back.Findings) != len(fs) || back.Findings[len(fs)-1].Fix != "line one\nline two" {
		t.Errorf("JSON round trip: got %+v", back)
	}

	var ok bytes.Buffer
	_ = WriteText(&ok, NewReport(ns, Run(healthy(), Options{})))
	if !strings.Contains(ok.String(), "No problems found") {
		t.Errorf("healthy text output:\n%s", ok.String())
	}
}

// TestDoctorAgreesWithSpeaker feeds one table of worlds to the speaker's
// World.Decide and to doctor's vip-holder check, and requires doctor to
// report exactly the speaker's answer. The rows are the cases where doctor
// once re-derived candidacy and disagreed.
func TestDoctorAgreesWithSpeaker(t *testing.T) {
	lan := []v1alpha1.IPAddressPool{pool("lan", "192.0.2.0/24")}
	lanAd := []v1alpha1.L2Advertisement{ad("lan", "lan")}
	endpoint := func(svcName, nodeName string, ready, serving bool) discoveryv1.EndpointSlice {
		return discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: svcName + "-" + nodeName, Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: svcName}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, NodeName: ptr.To(nodeName),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(serving)}}},
		}
	}
	netDown := node("n2")
	netDown.Status.Conditions = append(netDown.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue, Reason: "NoRouteCreated"})
	selective := ad("lan", "lan")
	selective.Spec.NodeSelectors = []v1alpha1.LabelSelector{{MatchLabels: map[string]string{"zone": "b"}}}
	tests := []struct {
		name           string
		nodes          []corev1.Node
		svcs           []corev1.Service
		pools          []v1alpha1.IPAddressPool
		ads            []v1alpha1.L2Advertisement
		slices         []discoveryv1.EndpointSlice
		wantCandidates []string
	}{
		{name: "every node a candidate", nodes: []corev1.Node{node("n1"), node("n2")},
			svcs: []corev1.Service{svc("web", "192.0.2.10")}, pools: lan, ads: lanAd, wantCandidates: []string{"n1", "n2"}},
		{name: "a group is Local when any of its Services is", nodes: []corev1.Node{node("n1"), node("n2")},
			svcs: []corev1.Service{svc("web", "192.0.2.10"), local(svc("api", "192.0.2.10"))}, pools: lan, ads: lanAd},
		{name: "a serving endpoint counts only while none is ready", nodes: []corev1.Node{node("n1"), node("n2")},
			svcs: []corev1.Service{local(svc("api", "192.0.2.10"))}, pools: lan, ads: lanAd,
			slices:         []discoveryv1.EndpointSlice{endpoint("api", "n1", true, true), endpoint("api", "n2", false, true)},
			wantCandidates: []string{"n1"}},
		{name: "serving endpoints count when none is ready", nodes: []corev1.Node{node("n1"), node("n2")},
			svcs: []corev1.Service{local(svc("api", "192.0.2.10"))}, pools: lan, ads: lanAd,
			slices:         []discoveryv1.EndpointSlice{endpoint("api", "n2", false, true)},
			wantCandidates: []string{"n2"}},
		{name: "the first pool by name holds an IP two pools contain", nodes: []corev1.Node{node("n1")},
			svcs:  []corev1.Service{svc("web", "192.0.2.10")},
			pools: []v1alpha1.IPAddressPool{pool("a-dark", "192.0.2.0/28"), pool("b-lan", "192.0.2.0/24")}, ads: []v1alpha1.L2Advertisement{ad("lan", "b-lan")}},
		{name: "nodeSelectors", nodes: []corev1.Node{node("n1"), withLabel(node("n2"), "zone", "b")},
			svcs: []corev1.Service{svc("web", "192.0.2.10")}, pools: lan, ads: []v1alpha1.L2Advertisement{selective}, wantCandidates: []string{"n2"}},
		{name: "nodeSelectors match no node", nodes: []corev1.Node{node("n1"), node("n2")},
			svcs: []corev1.Service{svc("web", "192.0.2.10")}, pools: lan, ads: []v1alpha1.L2Advertisement{selective}},
		{name: "excluded and NetworkUnavailable nodes", nodes: []corev1.Node{withLabel(node("n1"), v1alpha1.LabelExcludeFromLB, ""), netDown},
			svcs: []corev1.Service{svc("web", "192.0.2.10")}, pools: lan, ads: lanAd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The speaker's answer, from the table's objects, not through
			// doctor's Snapshot.
			in := speaker.Inputs{Nodes: pointers(tt.nodes), Pools: pointers(tt.pools),
				Advertisements: pointers(tt.ads), EndpointSlices: pointers(tt.slices)}
			groups, _ := speaker.Groups(pointers(tt.svcs), false)
			if len(groups) != 1 {
				t.Fatalf("table row makes %d groups, want 1", len(groups))
			}
			w := speaker.NewWorld(in)
			g := groups[0]
			if got := w.Candidates(g, false); !slices.Equal(got, tt.wantCandidates) {
				t.Fatalf("speaker candidates %v, want %v", got, tt.wantCandidates)
			}

			s := snap(func(s *Snapshot) {
				s.Nodes, s.Services, s.Pools, s.Advertisements, s.EndpointSlices = tt.nodes, tt.svcs, tt.pools, tt.ads, tt.slices
			})
			got := runCheck(t, "vip-holder", s, Options{})
			if len(got) != 1 {
				t.Fatalf("doctor: %d findings, want 1:\n%s", len(got), dump(got))
			}
			f := got[0]
			if len(tt.wantCandidates) > 0 {
				if f.Severity != Fail || !strings.Contains(f.Message, "node(s) "+strings.Join(tt.wantCandidates, ", ")+" may") {
					t.Errorf("doctor says %s %q; want fail naming candidates %v", f.Severity, f.Message, tt.wantCandidates)
				}
				return
			}
			allWaiting := true
			for _, n := range w.NodeNames() {
				d := w.Decide(n, g, false)
				if !strings.Contains(f.Message, d.Message) {
					t.Errorf("doctor says %q; want it to carry node %s's decision %q", f.Message, n, d.Message)
				}
				allWaiting = allWaiting && d.Reason == speaker.ReasonNoLocalEndpoint
			}
			if want := map[bool]Severity{true: Warn, false: Fail}[allWaiting]; f.Severity != want {
				t.Errorf("doctor severity %s, want %s", f.Severity, want)
			}
		})
	}
}
