//go:build tools

// Package cluster pins the commands the lab builds from k8s.io/kubernetes so
// `go mod tidy` in this module keeps them in go.mod.
package cluster

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
