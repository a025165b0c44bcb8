package speaker

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

func TestEventFilters(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range []*corev1.Service{
		with(svc("local", "192.0.2.1"), local()),
		svc("cluster", "192.0.2.2"),
		with(svc("clusterip"), typ(corev1.ServiceTypeClusterIP), local()),
	} {
		_ = idx.Add(s)
	}
	services := corelisters.NewServiceLister(idx)
	clusterIP := with(svc("x"), typ(corev1.ServiceTypeClusterIP))
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"LoadBalancer Service", serviceMatters(svc("a")), true},
		{"ClusterIP Service", serviceMatters(clusterIP), false},
		{"ClusterIP becomes LoadBalancer", serviceMatters(clusterIP, svc("x")), true},
		{"LoadBalancer becomes ClusterIP", serviceMatters(svc("x"), clusterIP), true},
		{"deleted, final state unknown", serviceMatters(cache.DeletedFinalStateUnknown{Obj: svc("a")}), true},
		{"slice of a Local LoadBalancer", sliceMatters(services, slice("local", "l-1")), true},
		{"slice of a Cluster LoadBalancer", sliceMatters(services, slice("cluster", "c-1")), false},
		{"slice of a ClusterIP Service", sliceMatters(services, slice("clusterip", "i-1")), false},
		{"slice of an unknown Service", sliceMatters(services, slice("ghost", "g-1")), false},
		{"slice moved to a Local Service", sliceMatters(services, slice("cluster", "m-1"), slice("local", "m-1")), true},
		{"node status only", nodeUpdateMatters(node("a"), node("a", condition(corev1.NodeReady, corev1.ConditionFalse))), false},
		{"node label", nodeUpdateMatters(node("a"), node("a", label("zone", "b"))), true},
		{"node cordoned", nodeUpdateMatters(node("a"), node("a", cordoned)), true},
		{"node uncordoned", nodeUpdateMatters(node("a", cordoned), node("a")), true},
		{"node network unavailable", nodeUpdateMatters(node("a"), node("a", condition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue))), true},
		{"unexpected object", nodeUpdateMatters("x", node("a")), true},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}
