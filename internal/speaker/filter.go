package speaker

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// These filters keep informer events that cannot change any group or any
// candidacy from waking the loop: on a big cluster most Service and
// EndpointSlice changes belong to ClusterIP Services, and Nodes are
// rewritten for status the speaker never reads. A recompute costs
// milliseconds per thousand groups; skipping thousands of them is still
// worth it. Each filter errs on the side of waking.

func unwrap(obj any) any {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return d.Obj
	}
	return obj
}

// serviceMatters: a Service change matters when it is, or was, a
// LoadBalancer.
func serviceMatters(objs ...any) bool {
	for _, o := range objs {
		s, ok := unwrap(o).(*corev1.Service)
		if !ok || s.Spec.Type == corev1.ServiceTypeLoadBalancer {
			return true
		}
	}
	return false
}

// sliceMatters: an EndpointSlice change matters only for a LoadBalancer
// Service with externalTrafficPolicy Local (Cluster Services do not depend
// on endpoints). A Service that becomes Local or appears later wakes the
// loop through its own event, and the recompute reads every slice then.
func sliceMatters(services corelisters.ServiceLister, objs ...any) bool {
	for _, o := range objs {
		es, ok := unwrap(o).(*discoveryv1.EndpointSlice)
		if !ok {
			return true
		}
		name := es.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		s, err := services.Services(es.Namespace).Get(name)
		if err != nil {
			continue
		}
		if s.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
			return true
		}
	}
	return false
}

// nodeUpdateMatters: of a Node update, only the labels (selectors,
// exclusion), cordoning and the NetworkUnavailable condition matter.
func nodeUpdateMatters(oldObj, newObj any) bool {
	o, ok1 := unwrap(oldObj).(*corev1.Node)
	n, ok2 := unwrap(newObj).(*corev1.Node)
	if !ok1 || !ok2 {
		return true
	}
	return !maps.Equal(o.Labels, n.Labels) || o.Spec.Unschedulable != n.Spec.Unschedulable ||
		networkUnavailable(o) != networkUnavailable(n)
}

func networkUnavailable(n *corev1.Node) bool {
	return nodeFactsOf(n, true).reason == ReasonNetworkUnavailable
}
