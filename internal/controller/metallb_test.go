package controller

import (
	"reflect"
	"testing"

	"github.com/leaselb/leaselb/api/v1alpha1"
)

func TestMetalLBAnnotations(t *testing.T) {
	tests := []struct {
		name string
		mods []svcMod
		want []MetalLBAnnotation
	}{
		{name: "none", mods: []svcMod{anno(v1alpha1.AnnotationAddressPool, "lan")}},
		{
			name: "every MetalLB form, in the controller's order",
			mods: []svcMod{
				anno("metallb.universe.tf/allow-shared-ip", "k"),
				anno("metallb.io/address-pool", "lan"),
				anno("metallb.universe.tf/loadBalancerIPs", "192.0.2.10"),
			},
			want: []MetalLBAnnotation{
				{Name: "metallb.universe.tf/loadBalancerIPs", Value: "192.0.2.10", Leaselb: v1alpha1.AnnotationLoadBalancerIPs},
				{Name: "metallb.io/address-pool", Value: "lan", Leaselb: v1alpha1.AnnotationAddressPool},
				{Name: "metallb.universe.tf/allow-shared-ip", Value: "k", Leaselb: v1alpha1.AnnotationAllowSharedIP},
			},
		},
		{
			name: "the leaselb form wins",
			mods: []svcMod{anno("metallb.universe.tf/address-pool", "old"), anno(v1alpha1.AnnotationAddressPool, "new")},
			want: []MetalLBAnnotation{{Name: "metallb.universe.tf/address-pool", Value: "old", Leaselb: v1alpha1.AnnotationAddressPool, Ignored: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MetalLBAnnotations(svc("web", tt.mods...)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
