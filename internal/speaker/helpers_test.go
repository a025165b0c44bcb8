package speaker

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/leaselb/leaselb/api/v1alpha1"
)

const testNS = "leaselb-system"

type svcOpt func(*corev1.Service)

// svc is a LoadBalancer Service in namespace "default" with the given
// ingress IPs.
func svc(name string, ips ...string) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
	}
	for _, ip := range ips {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return s
}

func with(s *corev1.Service, opts ...svcOpt) *corev1.Service {
	for _, o := range opts {
		o(s)
	}
	return s
}

func class(c string) svcOpt { return func(s *corev1.Service) { s.Spec.LoadBalancerClass = &c } }

func local() svcOpt {
	return func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal }
}

func typ(t corev1.ServiceType) svcOpt { return func(s *corev1.Service) { s.Spec.Type = t } }

func ns(n string) svcOpt { return func(s *corev1.Service) { s.Namespace = n } }

type nodeOpt func(*corev1.Node)

func node(name string, opts ...nodeOpt) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func label(k, v string) nodeOpt { return func(n *corev1.Node) { n.Labels[k] = v } }

var cordoned nodeOpt = func(n *corev1.Node) { n.Spec.Unschedulable = true }

func condition(t corev1.NodeConditionType, st corev1.ConditionStatus) nodeOpt {
	return func(n *corev1.Node) {
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: t, Status: st, Reason: "Test"})
	}
}

func pool(name string, addrs ...string) *v1alpha1.IPAddressPool {
	p := &v1alpha1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name, Labels: map[string]string{"pool": name}}}
	for _, a := range addrs {
		p.Spec.Addresses = append(p.Spec.Addresses, v1alpha1.AddressRange(a))
	}
	return p
}

type adOpt func(*v1alpha1.L2Advertisement)

func advert(name string, opts ...adOpt) *v1alpha1.L2Advertisement {
	a := &v1alpha1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name}}
	for _, o := range opts {
		o(a)
	}
	return a
}

func pools(names ...string) adOpt {
	return func(a *v1alpha1.L2Advertisement) { a.Spec.IPAddressPools = names }
}

func poolSelector(labels map[string]string) adOpt {
	return func(a *v1alpha1.L2Advertisement) {
		a.Spec.IPAddressPoolSelectors = append(a.Spec.IPAddressPoolSelectors, v1alpha1.LabelSelector{MatchLabels: labels})
	}
}

func nodeSelector(labels map[string]string) adOpt {
	return func(a *v1alpha1.L2Advertisement) {
		a.Spec.NodeSelectors = append(a.Spec.NodeSelectors, v1alpha1.LabelSelector{MatchLabels: labels})
	}
}

func badNodeSelector() adOpt {
	return func(a *v1alpha1.L2Advertisement) {
		a.Spec.NodeSelectors = append(a.Spec.NodeSelectors, v1alpha1.LabelSelector{
			MatchExpressions: []v1alpha1.LabelSelectorRequirement{{Key: "x", Operator: "Bogus"}}})
	}
}

func ifaces(names ...string) adOpt {
	return func(a *v1alpha1.L2Advertisement) { a.Spec.Interfaces = names }
}

// ep is one endpoint on a node with ready/serving conditions (nil: unset).
type ep struct {
	node           string
	ready, serving *bool
}

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func slice(service, name string, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for i, e := range eps {
		n := e.node
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}).String()},
			NodeName:   &n,
			Conditions: discoveryv1.EndpointConditions{Ready: e.ready, Serving: e.serving},
		})
	}
	return s
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}
