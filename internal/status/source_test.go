package status

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/leaselb/leaselb/api/v1alpha1"
	lbfake "github.com/leaselb/leaselb/internal/client/clientset/versioned/fake"
	"github.com/leaselb/leaselb/internal/doctor"
)

// fakeClients serves cluster() through fake clientsets, with the API
// server's clock at now.
func fakeClients(t *testing.T) (Clients, *fake.Clientset) {
	t.Helper()
	s := cluster()
	var objs []runtime.Object
	for i := range s.Nodes {
		objs = append(objs, &s.Nodes[i])
	}
	for i := range s.Services {
		objs = append(objs, &s.Services[i])
	}
	for i := range s.Leases {
		objs = append(objs, &s.Leases[i])
	}
	for i := range s.Events {
		objs = append(objs, &s.Events[i])
	}
	cip := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}}
	other := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "vip-192.0.2.10", Namespace: "elsewhere"}}
	kube := fake.NewClientset(append(objs, cip, other)...)
	kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{{
		GroupVersion: v1alpha1.SchemeGroupVersion.String(),
		APIResources: []metav1.APIResource{{Name: "ipaddresspools"}, {Name: "l2advertisements"}},
	}}
	lb := lbfake.NewSimpleClientset(&s.Pools[0], &s.Advertisements[0])
	return Clients{Kube: kube, Leaselb: lb, ServerTime: func(context.Context) (time.Time, error) { return now, nil }}, kube
}

// TestSourceSnapshot: the informers' view holds what Build needs, and only
// that: LoadBalancer Services, the speakers' Events, leaselb's Leases.
func TestSourceSnapshot(t *testing.T) {
	c, _ := fakeClients(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := NewSource(c, ns)
	if err := src.Start(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	defer src.Stop()
	s := src.Snapshot()
	want := cluster()
	checks := []struct {
		what string
		ok   bool
	}{
		{"no errors", len(s.Errors) == 0},
		{"clock follows the API server's", s.Now.Sub(now) < time.Minute && s.Now.Sub(now) > -time.Second},
		{"nodes", len(s.Nodes) == len(want.Nodes)},
		{"LoadBalancer Services only", len(s.Services) == len(want.Services)},
		{"leaselb's Leases only", len(s.Leases) == len(want.Leases)},
		{"speakers' Announcing and Released Events only", len(s.Events) == len(want.Events)-1},
		{"pools and advertisements", len(s.Pools) == 1 && len(s.Advertisements) == 1},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("want %s; got %+v", c.what, s)
		}
	}
}

// TestSourceWithoutCRDs: missing CRDs do not block the answer; the
// speakers' own decision then says noAdvertisement.
func TestSourceWithoutCRDs(t *testing.T) {
	c, kube := fakeClients(t)
	kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = nil
	src := NewSource(c, ns)
	if err := src.Start(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	defer src.Stop()
	s := src.Snapshot()
	if s.Resources["ipaddresspools"] || len(s.Pools) != 0 {
		t.Errorf("pools without the CRD: %+v", s.Pools)
	}
	r := Build(s, Options{Service: "default/dual"})
	if len(r.Groups) != 1 || r.Groups[0].Nodes[1].Reason != "noAdvertisement" {
		t.Errorf("without pools the speakers' answer is noAdvertisement: %+v", r.Groups)
	}
}

// TestSourceReportsForbidden: a source RBAC does not grant is named in the
// Report (and the table's warning), not waited for forever.
func TestSourceReportsForbidden(t *testing.T) {
	c, kube := fakeClients(t)
	kube.PrependReactor("list", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "", errors.New("RBAC says no"))
	})
	src := NewSource(c, ns)
	if err := src.Start(context.Background(), 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	defer src.Stop()
	r := Build(src.Snapshot(), Options{})
	if !strings.Contains(r.Unreadable[doctor.SourceLeases], "forbidden") {
		t.Errorf("unreadable: %v", r.Unreadable)
	}
	var b bytes.Buffer
	_ = Write(&b, r, Table)
	if !strings.Contains(b.String(), "warning: could not read leases") {
		t.Errorf("table:\n%s", b.String())
	}
}

// syncBuffer is a bytes.Buffer safe to read while Run writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunOnce(t *testing.T) {
	c, _ := fakeClients(t)
	var out syncBuffer
	if err := Run(context.Background(), c, RunOptions{Namespace: ns, Options: Options{Service: "default/web"}, SyncTimeout: 10 * time.Second}, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	t.Logf("\n%s", got)
	if !strings.Contains(got, "default/web  192.0.2.10  lan   n2      eth0,eth1   5m     from n1 shutdown 5m ago") || strings.Contains(got, "default/dns") {
		t.Errorf("got\n%s", got)
	}
}

// TestRunWatch: a handover written to the Lease re-renders the table
// through the watch, without polling.
func TestRunWatch(t *testing.T) {
	c, kube := fakeClients(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, c, RunOptions{Namespace: ns, Options: Options{Service: "default/web"}, Watch: true, SyncTimeout: 10 * time.Second}, &out)
	}()
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok(out.String()) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s; output:\n%s", what, out.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("the first table", func(s string) bool { return strings.Contains(s, "n2      eth0,eth1") })
	time.Sleep(3 * settle) // what the first table showed has been rendered: only the update below may print again
	l, err := kube.CoordinationV1().Leases(ns).Get(ctx, "vip-192.0.2.10", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.Spec.HolderIdentity = ptr.To("n1")
	l.Spec.LeaseTransitions = ptr.To[int32](3)
	if _, err := kube.CoordinationV1().Leases(ns).Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the table after the handover", func(s string) bool { return strings.Count(s, "SERVICE") == 2 && strings.Contains(s, "lan   n1") })
	// A change that alters nothing shown prints nothing.
	nl, _ := kube.CoordinationV1().Leases(ns).Get(ctx, "node-n2", metav1.GetOptions{})
	nl.Spec.RenewTime = ptr.To(metav1.NewMicroTime(now))
	_, _ = kube.CoordinationV1().Leases(ns).Update(ctx, nl, metav1.UpdateOptions{})
	time.Sleep(3 * settle)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "SERVICE"); n != 2 {
		t.Errorf("%d tables, want 2:\n%s", n, out.String())
	}
}
