package v1alpha1

import (
	"fmt"

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
