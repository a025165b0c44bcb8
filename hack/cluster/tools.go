//go:build tools

// Package cluster pins the commands the lab builds from k8s.io/kubernetes so
// `go mod tidy` in this module keeps them in go.mod: the control plane
// (kube-apiserver, kube-controller-manager, kube-scheduler), the node
// components (kubelet, kube-proxy) and kubectl.
package cluster

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
