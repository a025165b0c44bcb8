// Package e2e holds leaselb's end-to-end scenarios. They run only with the
// e2e build tag, as root, in the lab of package e2e/lab (real kube-apiserver
// and etcd, nodes in network namespaces, the real leaselb binary):
//
//	sudo make e2e                      # all scenarios
//	sudo make e2e E2E_RUN=TestNodeFailure
//
// Without root every test skips and says why. Durations (failover gaps) are
// logged, never asserted: the machine may be slow and shared; `make bench`
// reports them properly.
package e2e
