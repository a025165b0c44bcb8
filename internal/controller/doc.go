// Package controller is the leaselb controller loop: it watches Services,
// IPAddressPools, L2Advertisements and Namespaces through shared informers,
// hands out IPs with the allocator from one worker, and writes what it
// decided back to the API server: Service status.loadBalancer.ingress, pool
// and advertisement status, and Events on Services.
//
// It owns the order in which state is rebuilt after a restart (pools, then
// every existing assignment, then anything new), which is what keeps a
// restart from changing any IP, and the rule that a bad pool edit is
// reported and ignored rather than applied.
//
// It must never change a Service's IP unless the user asked for it (a new
// request, a pool edit or deletion that drops the IP), never touch a
// Service that carries another load-balancer class, never write a status
// that did not change, and never run its worker on two replicas at once
// (leader election guards the allocator, which is not safe for concurrent
// use). It does not announce anything on the network; that is the
// speaker's job.
package controller
