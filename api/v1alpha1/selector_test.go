package v1alpha1

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func TestCovers(t *testing.T) {
	pool := &IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "lan", Labels: map[string]string{"site": "home"}}}
	tests := []struct {
		name string
		spec L2AdvertisementSpec
		want bool
	}{
		{"no pools named or selected covers every pool", L2AdvertisementSpec{}, true},
		{"named", L2AdvertisementSpec{IPAddressPools: []string{"dmz", "lan"}}, true},
		{"other pool named", L2AdvertisementSpec{IPAddressPools: []string{"dmz"}}, false},
		{"selected by label", L2AdvertisementSpec{IPAddressPoolSelectors: []LabelSelector{{MatchLabels: map[string]string{"site": "home"}}}}, true},
		{"selector does not match", L2AdvertisementSpec{IPAddressPoolSelectors: []LabelSelector{{MatchLabels: map[string]string{"site": "office"}}}}, false},
		{"expression matches", L2AdvertisementSpec{IPAddressPoolSelectors: []LabelSelector{{MatchExpressions: []LabelSelectorRequirement{{Key: "site", Operator: metav1.LabelSelectorOpIn, Values: []string{"home", "lab"}}}}}}, true},
		{"only nodes selected still covers every pool", L2AdvertisementSpec{NodeSelectors: []LabelSelector{{MatchLabels: map[string]string{"a": "b"}}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ad := &L2Advertisement{Spec: tt.spec}
			sels, err := Selectors(ad.Spec.IPAddressPoolSelectors)
			if err != nil {
				t.Fatal(err)
			}
			if got := ad.Covers(pool, sels); got != tt.want {
				t.Errorf("Covers = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSelectorsRejectBadRequirement(t *testing.T) {
	_, err := Selectors([]LabelSelector{{}, {MatchExpressions: []LabelSelectorRequirement{{Key: "a", Operator: "Equals", Values: []string{"b"}}}}})
	if err == nil || err.Error()[:10] != "selector 1" {
		t.Fatalf("error %v, want one naming selector 1", err)
	}
}

func TestServes(t *testing.T) {
	class := func(c string) *string { return &c }
	tests := []struct {
		name         string
		typ          corev1.ServiceType
		class        *string
		requireClass bool
		want         bool
	}{
		{"no class", corev1.ServiceTypeLoadBalancer, nil, false, true},
		{"no class, class required", corev1.ServiceTypeLoadBalancer, nil, true, false},
		{"our class", corev1.ServiceTypeLoadBalancer, class(LoadBalancerClass), false, true},
		{"our class, class required", corev1.ServiceTypeLoadBalancer, class(LoadBalancerClass), true, true},
		{"another class", corev1.ServiceTypeLoadBalancer, class("example.com/bgp"), false, false},
		{"ClusterIP", corev1.ServiceTypeClusterIP, nil, false, false},
		{"NodePort with our class", corev1.ServiceTypeNodePort, class(LoadBalancerClass), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &corev1.Service{Spec: corev1.ServiceSpec{Type: tt.typ, LoadBalancerClass: tt.class}}
			if got := Serves(s, tt.requireClass); got != tt.want {
				t.Errorf("Serves = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSelectsNode(t *testing.T) {
	zoneB := LabelSelector{MatchLabels: map[string]string{"zone": "b"}}
	bad := LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: "Near", Values: []string{"b"}}}}
	tests := []struct {
		name      string
		selectors []LabelSelector
		labels    map[string]string
		want      bool
	}{
		{"no nodeSelectors: every node", nil, map[string]string{"zone": "a"}, true},
		{"selector matches", []LabelSelector{zoneB}, map[string]string{"zone": "b"}, true},
		{"selector does not match", []LabelSelector{zoneB}, map[string]string{"zone": "a"}, false},
		{"only a bad selector: no node", []LabelSelector{bad}, map[string]string{"zone": "b"}, false},
		{"a bad selector next to a good one that matches", []LabelSelector{bad, zoneB}, map[string]string{"zone": "b"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ad := &L2Advertisement{Spec: L2AdvertisementSpec{NodeSelectors: tt.selectors}}
			var sels []labels.Selector
			for _, s := range tt.selectors {
				if sel, err := s.AsSelector(); err == nil {
					sels = append(sels, sel)
				}
			}
			if got := ad.SelectsNode(tt.labels, sels); got != tt.want {
				t.Errorf("SelectsNode = %v, want %v", got, tt.want)
			}
		})
	}
}
