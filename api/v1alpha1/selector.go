package v1alpha1

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// AsSelector converts s to a labels.Selector. An empty selector matches
// everything, as in Kubernetes. The error names the bad requirement (the
// API server already rejects most of them).
func (s LabelSelector) AsSelector() (labels.Selector, error) {
	ls := metav1.LabelSelector{MatchLabels: s.MatchLabels}
	for _, e := range s.MatchExpressions {
		ls.MatchExpressions = append(ls.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: e.Key, Operator: e.Operator, Values: e.Values,
		})
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return nil, fmt.Errorf("label selector: %w", err)
	}
	return sel, nil
}

// Selectors converts a list of selectors; it fails on the first bad one.
func Selectors(list []LabelSelector) ([]labels.Selector, error) {
	out := make([]labels.Selector, 0, len(list))
	for i, s := range list {
		sel, err := s.AsSelector()
		if err != nil {
			return nil, fmt.Errorf("selector %d: %w", i, err)
		}
		out = append(out, sel)
	}
	return out, nil
}

// Covers reports whether the advertisement covers pool p: it names p, one of
// poolSelectors matches p's labels, or it names and selects no pool at all
// (then it covers every pool). poolSelectors are the advertisement's
// ipAddressPoolSelectors converted with Selectors; callers convert them once
// and reuse them across pools.
func (ad *L2Advertisement) Covers(p *IPAddressPool, poolSelectors []labels.Selector) bool {
	if len(ad.Spec.IPAddressPools) == 0 && len(ad.Spec.IPAddressPoolSelectors) == 0 {
		return true
	}
	if slices.Contains(ad.Spec.IPAddressPools, p.Name) {
		return true
	}
	for _, s := range poolSelectors {
		if s.Matches(labels.Set(p.Labels)) {
			return true
		}
	}
	return false
}

// SelectsNode reports whether the advertisement lets a node with labels
// nodeLabels announce: it has no nodeSelectors, or one of nodeSelectors
// (its spec.nodeSelectors converted with AsSelector) matches. A selector
// that did not convert is left out by the caller and matches nothing, so
// an advertisement whose only selectors are bad selects no node.
func (ad *L2Advertisement) SelectsNode(nodeLabels map[string]string, nodeSelectors []labels.Selector) bool {
	if len(ad.Spec.NodeSelectors) == 0 {
		return true
	}
	set := labels.Set(nodeLabels)
	for _, s := range nodeSelectors {
		if s.Matches(set) {
			return true
		}
	}
	return false
}

// Serves reports whether leaselb serves Service s: it is of type
// LoadBalancer and has spec.loadBalancerClass LoadBalancerClass, or no class
// at all unless requireClass (the daemons' --require-class). The controller,
// the speaker and doctor all ask this one function, so they cannot disagree
// about which Services are ours.
func Serves(s *corev1.Service, requireClass bool) bool {
	if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	if s.Spec.LoadBalancerClass == nil {
		return !requireClass
	}
	return *s.Spec.LoadBalancerClass == LoadBalancerClass
}
