package doctor

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/leaselb/leaselb/api/v1alpha1"
	lbfake "github.com/leaselb/leaselb/internal/client/clientset/versioned/fake"
)

// TestGather reads every source through fake clients and checks what lands
// in the Snapshot: absent objects are nil, not errors; only LoadBalancer
// Services, only the Event reasons doctor reads, EndpointSlices only of
// externalTrafficPolicy Local Services.
func TestGather(t *testing.T) {
	n1 := node("n1", "192.0.2.11")
	web := svc("web", "192.0.2.10")
	loc := local(svc("almighty", "192.0.2.11"))
	cip := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}}
	sl := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "almighty-x", Namespace: "default", Labels: map[string]string{"kubernetes.io/service-name": "almighty"}}}
	other := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-x", Namespace: "default", Labels: map[string]string{"kubernetes.io/service-name": "web"}}}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: SpeakerDaemonSet, Namespace: ns}}
	nl := lease("node-n1", "n1", 0)
	conflict := event(ReasonIPConflict, "web", "x")
	failed := event(ReasonAllocationFailed, "web", "y")
	noise := event("Scheduled", "web", "z")
	noise.Name = "noise"

	kube := fake.NewClientset(&n1, &web, &loc, &cip, &sl, &other, ds, &nl, &conflict, &failed, &noise)
	kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{{
		GroupVersion: v1alpha1.SchemeGroupVersion.String(),
		APIResources: []metav1.APIResource{{Name: "ipaddresspools"}, {Name: "l2advertisements"}},
	}}
	p := pool("lan", "192.0.2.0/24")
	a := ad("lan", "lan")
	lb := lbfake.NewSimpleClientset(&p, &a)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	s, err := Gather(context.Background(), Clients{Kube: kube, Leaselb: lb, ServerTime: func(context.Context) (time.Time, error) { return at, nil }}, ns)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Errors) != 0 {
		t.Errorf("errors: %v", s.Errors)
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"server time", s.Now.Equal(at)},
		{"no kube-proxy ConfigMap is nil, not an error", s.KubeProxy == nil},
		{"CRDs", s.Resources["ipaddresspools"] && s.Resources["l2advertisements"]},
		{"nodes", len(s.Nodes) == 1},
		{"speaker DaemonSet", s.Speaker != nil},
		{"no controller Deployment", s.Controller == nil},
		{"pools and advertisements", len(s.Pools) == 1 && len(s.Advertisements) == 1},
		{"LoadBalancer Services only", len(s.Services) == 2},
		{"EndpointSlices of Local Services only", len(s.EndpointSlices) == 1 && s.EndpointSlices[0].Name == "almighty-x"},
		{"leases", len(s.Leases) == 1},
		{"events of the two reasons", len(s.Events) == 2},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("want %s; snapshot %+v", c.what, s)
		}
	}
}
