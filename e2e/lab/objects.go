package lab

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Apply applies YAML with kubectl (server-side), as a person would.
func (l *Lab) Apply(ctx context.Context, yaml string) error {
	_, err := l.KubectlStdin(ctx, yaml, "apply", "--server-side", "--force-conflicts", "-f", "-")
	return err
}

// WalkthroughConfig is the walkthrough's pool and advertisement, in the lab's
// documentation ranges, both families.
func WalkthroughConfig() string {
	return fmt.Sprintf(`apiVersion: leaselb.io/v1alpha1
kind: IPAddressPool
metadata:
  name: first-pool
  namespace: %s
spec:
  addresses:
  - %s
  - %s
---
apiVersion: leaselb.io/v1alpha1
kind: L2Advertisement
metadata:
  name: mt-network-l2
  namespace: %s
spec:
  ipAddressPools:
  - first-pool
`, Namespace, PoolV4, PoolV6, Namespace)
}

// ServiceSpec describes a LoadBalancer Service a scenario creates.
type ServiceSpec struct {
	Name        string
	Ports       []int32
	Annotations map[string]string
	// LoadBalancerIP sets the deprecated spec.loadBalancerIP.
	LoadBalancerIP string
	// Families: "" (cluster default, IPv4), "v6", "dual".
	Families string
	// Local sets externalTrafficPolicy: Local.
	Local bool
	// App selects the pods labelled app=<App> (an EchoApp); empty makes a
	// selector-less Service whose EndpointSlices a scenario writes.
	App string
}

// CreateService creates a LoadBalancer Service in default: selector-less
// (stand-in nodes have no pods; tests write EndpointSlices themselves), or
// selecting an EchoApp on real nodes.
func (l *Lab) CreateService(ctx context.Context, s ServiceSpec) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: "default", Annotations: s.Annotations},
		Spec: corev1.ServiceSpec{
			Type:           corev1.ServiceTypeLoadBalancer,
			LoadBalancerIP: s.LoadBalancerIP,
		},
	}
	if s.App != "" {
		svc.Spec.Selector = map[string]string{"app": s.App}
	}
	for i, p := range s.Ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: fmt.Sprintf("p%d", i), Protocol: corev1.ProtocolTCP, Port: p, TargetPort: intstr.FromInt32(p),
		})
	}
	switch s.Families {
	case "v6":
		single := corev1.IPFamilyPolicySingleStack
		svc.Spec.IPFamilyPolicy = &single
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
	case "dual":
		dual := corev1.IPFamilyPolicyRequireDualStack
		svc.Spec.IPFamilyPolicy = &dual
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	}
	if s.Local {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	_, err := l.Client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	return err
}

// DeleteService deletes a Service in default and its EndpointSlice.
func (l *Lab) DeleteService(ctx context.Context, name string) {
	_ = l.Client.CoreV1().Services("default").Delete(ctx, name, metav1.DeleteOptions{})
	_ = l.Client.DiscoveryV1().EndpointSlices("default").Delete(ctx, name+"-lab", metav1.DeleteOptions{})
}

// DeleteAllServices deletes every Service in default but kubernetes, and
// waits until the leaselb Leases of their groups are gone.
func (l *Lab) DeleteAllServices(ctx context.Context) error {
	svcs, err := l.Client.CoreV1().Services("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, s := range svcs.Items {
		if s.Name != "kubernetes" {
			l.DeleteService(ctx, s.Name)
		}
	}
	return nil
}

// IngressIPs returns a Service's status.loadBalancer.ingress IPs.
func (l *Lab) IngressIPs(ctx context.Context, name string) ([]string, error) {
	svc, err := l.Client.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var ips []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			ips = append(ips, in.IP)
		}
	}
	return ips, nil
}

// WaitIngress waits until the Service has n ingress IPs and returns them.
func (l *Lab) WaitIngress(ctx context.Context, name string, n int, timeout time.Duration) ([]string, error) {
	var ips []string
	err := Eventually(ctx, timeout, 200*time.Millisecond, func() (bool, string) {
		var err error
		ips, err = l.IngressIPs(ctx, name)
		if err != nil {
			return false, err.Error()
		}
		return len(ips) >= n, fmt.Sprintf("Service default/%s ingress %v, want %d IPs", name, ips, n)
	})
	return ips, err
}

// GroupName is the VIP lease name of the group whose lowest IP is ip, per
// the shared naming rule: "vip-" + canonical IP with ':' replaced by '-'.
func GroupName(ip string) string {
	return "vip-" + strings.ReplaceAll(net.ParseIP(ip).String(), ":", "-")
}

// Holder returns the holder of the VIP lease of the group whose lowest IP
// is ip ("" when the lease is missing or released).
func (l *Lab) Holder(ctx context.Context, ip string) string {
	lease, err := l.Client.CoordinationV1().Leases(Namespace).Get(ctx, GroupName(ip), metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// SetEndpoints writes the EndpointSlice of a selector-less Service: one
// ready endpoint on each of the given nodes (none: an empty slice).
func (l *Lab) SetEndpoints(ctx context.Context, svc string, nodes ...string) error {
	name := svc + "-lab"
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "default",
			Labels: map[string]string{discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: "leaselb-lab"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	port := int32(8080)
	pname := "p0"
	proto := corev1.ProtocolTCP
	slice.Ports = []discoveryv1.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}}
	for i, n := range nodes {
		node := n
		ready := true
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			// Pod addresses from a documentation range; nothing routes them.
			Addresses:  []string{fmt.Sprintf("203.0.113.%d", 10+i)},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &ready},
			NodeName:   &node,
		})
	}
	cur, err := l.Client.DiscoveryV1().EndpointSlices("default").Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = l.Client.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	slice.ResourceVersion = cur.ResourceVersion
	_, err = l.Client.DiscoveryV1().EndpointSlices("default").Update(ctx, slice, metav1.UpdateOptions{})
	return err
}

// Events returns "reason: message" of the Events on a Service in default.
func (l *Lab) Events(ctx context.Context, svc string) []string {
	list, err := l.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Service,involvedObject.name=" + svc,
	})
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Reason+": "+e.Message)
	}
	return out
}

// Eventually polls cond until it reports true or timeout passes; the error
// carries cond's last description of what it saw.
func Eventually(ctx context.Context, timeout, every time.Duration, cond func() (bool, string)) error {
	return eventuallyUnless(ctx, timeout, every, cond, nil)
}

// eventuallyUnless is Eventually that gives up at once when abort (if not
// nil) returns an error, such as a component having exited.
func eventuallyUnless(ctx context.Context, timeout, every time.Duration, cond func() (bool, string), abort func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, what := cond()
		if ok {
			return nil
		}
		if abort != nil {
			if err := abort(); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s", ctx.Err(), what)
		case <-time.After(every):
		}
	}
}

// VIPLeases counts the VIP leases (label leaselb.io/role=vip) in the
// leaselb namespace.
func (l *Lab) VIPLeases(ctx context.Context) int {
	list, err := l.Client.CoordinationV1().Leases(Namespace).List(ctx, metav1.ListOptions{LabelSelector: "leaselb.io/role=vip"})
	if err != nil {
		return -1
	}
	return len(list.Items)
}
