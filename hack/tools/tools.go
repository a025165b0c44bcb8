//go:build tools

// Package tools pins the code generators leaselb's Makefile runs
// (controller-gen for deepcopy and CRDs; client-gen, lister-gen and
// informer-gen for the typed client; kustomize renders manifests/leaselb.yaml). The kube-apiserver, etcd and kubectl
// used by the lab live in ../cluster, a module of their own, so their large
// dependency graph never constrains these.
package tools

import (
	_ "k8s.io/code-generator/cmd/client-gen"
	_ "k8s.io/code-generator/cmd/informer-gen"
	_ "k8s.io/code-generator/cmd/lister-gen"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
	_ "sigs.k8s.io/kustomize/kustomize/v5"
)
