// Package allocator is leaselb's IP address management: it parses address
// pools, chooses the pool and the IPs for each LoadBalancer Service, applies
// the IP sharing and dual-stack rules, and reloads existing assignments so a
// controller restart changes no IP.
//
// It is plain Go over netip addresses: it never talks to Kubernetes, logs,
// or keeps time, and it is not safe for concurrent use. Big IPv6 pools (a
// /64 or more) cost nothing: addresses are never enumerated; the allocator
// keeps only the addresses in use, as ordered runs.
//
// The user-facing rules are written up in docs/allocation.md.
package allocator
