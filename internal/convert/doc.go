// Package convert turns MetalLB's layer-2 configuration into leaselb's:
// metallb.io/v1beta1 IPAddressPools and L2Advertisements, and the
// address-pools of the ConfigMap "config" that MetalLB read up to 0.12. It
// also reports what cannot carry over (BGP peers, BGP advertisements,
// communities, BFD profiles, BGP pools, fields leaselb does not have) and
// what leaselb will make of each Service's MetalLB annotations and current
// IP.
//
// Convert is pure: it takes decoded objects and returns leaselb objects and
// findings. It never reads files or the cluster (cmd/leaselb does) and never
// drops anything without saying so.
package convert
