package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Well-known names shared by the controller, the speaker and the manifests.
const (
	// LoadBalancerClass is the spec.loadBalancerClass that selects leaselb.
	// Services without a class are leaselb's too unless the controller runs
	// with --require-class.
	LoadBalancerClass = "leaselb.io/l2"

	// AnnotationLoadBalancerIPs asks for specific IPs (comma-separated, at
	// most one per family).
	AnnotationLoadBalancerIPs = "leaselb.io/loadBalancerIPs"
	// AnnotationAddressPool asks for an IP from the named pool.
	AnnotationAddressPool = "leaselb.io/address-pool"
	// AnnotationAllowSharedIP names a sharing key: Services with the same key
	// may share an IP when their ports do not overlap.
	AnnotationAllowSharedIP = "leaselb.io/allow-shared-ip"

	// LabelExcludeFromLB is the well-known Kubernetes node label that takes a
	// node out of every announcement.
	LabelExcludeFromLB = "node.kubernetes.io/exclude-from-external-load-balancers"
)

// AddressRange is one entry of IPAddressPool.spec.addresses: a CIDR
// ("192.0.2.0/24", "2001:db8::/120") or an inclusive range of one family
// written "first-last" ("192.0.2.10-192.0.2.20"). Spaces around the entry
// and around each end of a range are ignored.
//
// The API server checks the grammar with the CEL rules below, one rule per
// mistake so its message says what is wrong, in the allocator's words
// (allocator.ParseRange checks it again). testdata/addresses.json is the
// one table of good and bad entries both are tested against. CEL cannot
// order IPv6 addresses, so a reversed IPv6 range passes the API server and
// the controller reports it in the pool's status.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=128
// +kubebuilder:validation:XValidation:rule="self.contains('-') || self.contains('/') || isIP(self.trim())",messageExpression=`self.trim() + ' is not an IP; write a CIDR such as 192.0.2.0/24 or a range such as 192.0.2.10-192.0.2.20'`
// +kubebuilder:validation:XValidation:rule="self.contains('-') || self.contains('/') || !isIP(self.trim())",messageExpression=`self.trim() + ' is a single address; write it as a CIDR (' + self.trim() + (ip(self.trim()).family() == 4 ? '/32' : '/128') + ') or a range'`
// +kubebuilder:validation:XValidation:rule="self.contains('-') || !self.contains('/') || isCIDR(self.trim())",messageExpression=`'"' + self.trim() + '" is not a CIDR; write an address and a prefix length such as 192.0.2.0/24 or 2001:db8::/120'`
// +kubebuilder:validation:XValidation:rule="self.split('-').size() <= 2",messageExpression=`self.trim() + ' has more than one dash; write a range as first-last'`
// +kubebuilder:validation:XValidation:rule="self.split('-').size() != 2 || isIP(self.split('-')[0].trim())",messageExpression=`(self.split('-')[0].trim().size() == 0 ? '""' : self.split('-')[0].trim()) + ' is not an IP'`
// +kubebuilder:validation:XValidation:rule="self.split('-').size() != 2 || isIP(self.split('-')[1].trim())",messageExpression=`(self.split('-')[1].trim().size() == 0 ? '""' : self.split('-')[1].trim()) + ' is not an IP'`
// +kubebuilder:validation:XValidation:rule="self.split('-').size() != 2 || !isIP(self.split('-')[0].trim()) || !isIP(self.split('-')[1].trim()) || ip(self.split('-')[0].trim()).family() == ip(self.split('-')[1].trim()).family()",messageExpression=`'range ' + self.split('-')[0].trim() + '-' + self.split('-')[1].trim() + ' mixes IPv4 and IPv6; write one range per family'`
// +kubebuilder:validation:XValidation:rule="self.split('-').size() != 2 || !isIP(self.split('-')[0].trim()) || !isIP(self.split('-')[1].trim()) || ip(self.split('-')[0].trim()).family() != 4 || ip(self.split('-')[1].trim()).family() != 4 || int(self.split('-')[0].trim().split('.')[0])*16777216+int(self.split('-')[0].trim().split('.')[1])*65536+int(self.split('-')[0].trim().split('.')[2])*256+int(self.split('-')[0].trim().split('.')[3])*1 <= int(self.split('-')[1].trim().split('.')[0])*16777216+int(self.split('-')[1].trim().split('.')[1])*65536+int(self.split('-')[1].trim().split('.')[2])*256+int(self.split('-')[1].trim().split('.')[3])*1",messageExpression=`'range ' + self.split('-')[0].trim() + '-' + self.split('-')[1].trim() + ' is reversed; write the lower address first'`
type AddressRange string

// LabelSelector selects objects by label. It has the JSON shape of a
// Kubernetes metav1.LabelSelector (so MetalLB manifests apply unchanged),
// with bounds that let the API server check it: the operator is one of
// In, NotIn, Exists and DoesNotExist, and In/NotIn need values while
// Exists/DoesNotExist take none. Use AsSelector to match labels.
type LabelSelector struct {
	// MatchLabels selects objects with all these labels.
	// +kubebuilder:validation:MaxProperties=32
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
	// MatchExpressions selects objects that satisfy all these requirements.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is one requirement of a LabelSelector, as in
// metav1.LabelSelectorRequirement.
//
// +kubebuilder:validation:XValidation:rule="(self.operator == 'In' || self.operator == 'NotIn') == (has(self.values) && size(self.values) > 0)",message="In and NotIn need values; Exists and DoesNotExist take none"
type LabelSelectorRequirement struct {
	// Key is the label key the requirement applies to.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	Key string `json:"key"`
	// Operator relates the key to the values.
	// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist
	Operator metav1.LabelSelectorOperator `json:"operator"`
	// Values for In and NotIn.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=atomic
	// +optional
	Values []string `json:"values,omitempty"`
}

// IPAddressPoolSpec is the desired state of an IPAddressPool.
type IPAddressPoolSpec struct {
	// Addresses are the IPs this pool hands out: CIDRs and "first-last"
	// ranges, IPv4 and IPv6 may be mixed.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +listType=atomic
	Addresses []AddressRange `json:"addresses"`

	// AutoAssign lets Services that ask for no pool and no IP get an IP from
	// this pool. When false, the pool is used only when a Service names it or
	// one of its IPs.
	// +kubebuilder:default=true
	// +optional
	AutoAssign *bool `json:"autoAssign,omitempty"`

	// AvoidBuggyIPs skips IPv4 addresses ending in .0 and .255, which some
	// old client stacks drop.
	// +optional
	AvoidBuggyIPs bool `json:"avoidBuggyIPs,omitempty"`

	// ServiceAllocation restricts the pool to some Services and orders it
	// against other pools.
	// +optional
	ServiceAllocation *ServiceAllocation `json:"serviceAllocation,omitempty"`
}

// ServiceAllocation restricts a pool to the Services it matches and gives
// it a priority over other matching pools. A Service must match every list
// that is set.
type ServiceAllocation struct {
	// Priority orders pools that match a Service: the lowest value is tried
	// first; equal values are ordered by pool name.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Priority int32 `json:"priority,omitempty"`

	// Namespaces lists the namespaces whose Services may use the pool.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=set
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`

	// NamespaceSelectors select, by label, the namespaces whose Services may
	// use the pool.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	NamespaceSelectors []LabelSelector `json:"namespaceSelectors,omitempty"`

	// ServiceSelectors select, by label, the Services that may use the pool.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	ServiceSelectors []LabelSelector `json:"serviceSelectors,omitempty"`
}

// IPAddressPoolStatus is the observed state of an IPAddressPool, written by
// the controller. Counts that do not fit an int64 (large IPv6 pools) are
// reported as the largest int64.
type IPAddressPoolStatus struct {
	// AssignedIPv4 is the number of IPv4 addresses of the pool in use.
	// +optional
	AssignedIPv4 int64 `json:"assignedIPv4"`
	// AvailableIPv4 is the number of IPv4 addresses of the pool still free.
	// +optional
	AvailableIPv4 int64 `json:"availableIPv4"`
	// AssignedIPv6 is the number of IPv6 addresses of the pool in use.
	// +optional
	AssignedIPv6 int64 `json:"assignedIPv6"`
	// AvailableIPv6 is the number of IPv6 addresses of the pool still free.
	// +optional
	AvailableIPv6 int64 `json:"availableIPv6"`

	// Conditions report problems the API server cannot see: "Valid" is
	// False with a reason when the pool overlaps another pool or has an
	// address the controller rejects, and "Advertised" is False when no
	// L2Advertisement covers the pool.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// IPAddressPool is a set of IPs that the controller hands out to
// LoadBalancer Services.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ipp
// +kubebuilder:printcolumn:name="Addresses",type=string,JSONPath=`.spec.addresses`
// +kubebuilder:printcolumn:name="Auto Assign",type=boolean,JSONPath=`.spec.autoAssign`
// +kubebuilder:printcolumn:name="Assigned IPv4",type=integer,JSONPath=`.status.assignedIPv4`
// +kubebuilder:printcolumn:name="Available IPv4",type=integer,JSONPath=`.status.availableIPv4`
// +kubebuilder:printcolumn:name="Assigned IPv6",type=integer,JSONPath=`.status.assignedIPv6`
// +kubebuilder:printcolumn:name="Available IPv6",type=integer,JSONPath=`.status.availableIPv6`
// +kubebuilder:printcolumn:name="Valid",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].status`
// +kubebuilder:printcolumn:name="Advertised",type=string,JSONPath=`.status.conditions[?(@.type=="Advertised")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IPAddressPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   IPAddressPoolSpec   `json:"spec"`
	Status IPAddressPoolStatus `json:"status,omitempty"`
}

// IPAddressPoolList is a list of IPAddressPools.
//
// +kubebuilder:object:root=true
type IPAddressPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPAddressPool `json:"items"`
}

// L2AdvertisementSpec is the desired state of an L2Advertisement. With no
// pool named or selected, the advertisement covers every pool.
type L2AdvertisementSpec struct {
	// IPAddressPools names the pools (in the same namespace) this
	// advertisement covers.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=set
	// +optional
	IPAddressPools []string `json:"ipAddressPools,omitempty"`

	// IPAddressPoolSelectors select, by label, the pools this advertisement
	// covers.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	IPAddressPoolSelectors []LabelSelector `json:"ipAddressPoolSelectors,omitempty"`

	// NodeSelectors limit the nodes that may announce the covered IPs. With
	// none, every node may.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	NodeSelectors []LabelSelector `json:"nodeSelectors,omitempty"`

	// Interfaces limit the node interfaces the IPs are announced on. With
	// none, each IP is announced on the interfaces that carry an address in
	// its subnet.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=15
	// +kubebuilder:validation:items:Pattern=`^[^\s/:]+$`
	// +listType=set
	// +optional
	Interfaces []string `json:"interfaces,omitempty"`
}

// L2AdvertisementStatus is the observed state of an L2Advertisement.
type L2AdvertisementStatus struct {
	// Conditions report problems the API server cannot see, such as a pool
	// name that matches no IPAddressPool ("Valid" False, reason UnknownPool).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// L2Advertisement tells the speakers to announce the IPs of some pools on
// the local network from some nodes.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=l2adv
// +kubebuilder:printcolumn:name="Pools",type=string,JSONPath=`.spec.ipAddressPools`
// +kubebuilder:printcolumn:name="Interfaces",type=string,JSONPath=`.spec.interfaces`
// +kubebuilder:printcolumn:name="Valid",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type L2Advertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   L2AdvertisementSpec   `json:"spec,omitempty"`
	Status L2AdvertisementStatus `json:"status,omitempty"`
}

// L2AdvertisementList is a list of L2Advertisements.
//
// +kubebuilder:object:root=true
type L2AdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []L2Advertisement `json:"items"`
}
