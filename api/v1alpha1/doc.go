// Package v1alpha1 holds the leaselb.io/v1alpha1 API: IPAddressPool and
// L2Advertisement.
//
// Field names follow MetalLB's metallb.io/v1beta1 so that a MetalLB layer-2
// configuration works here after changing only its apiVersion. Syntax is
// checked by the API server (OpenAPI schema and CEL rules generated from the
// markers below); meaning that needs other objects (overlapping pools, unknown
// pool names) is checked by the controller and reported in status conditions.
//
// +kubebuilder:object:generate=true
// +groupName=leaselb.io
// +groupGoName=Leaselb
package v1alpha1
