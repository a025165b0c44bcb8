#!/usr/bin/env bash
# Builds the lab's cluster into BIN (default ./bin) from one k8s.io/kubernetes
# version: the control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler), the node components (kubelet, kube-proxy), kubectl, and
# etcd (embedded). The first build compiles most of Kubernetes and takes
# minutes; this prints a line every 30 s so nobody thinks it hung. Later
# builds come from Go's build cache.
set -euo pipefail
cd "$(dirname "$0")"
BIN=${1:-../../bin}
mkdir -p "$BIN"
k8s=$(awk '$1=="k8s.io/kubernetes"{print $2}' go.mod)
major=${k8s#v}; minor=${major#*.}; major=${major%%.*}; minor=${minor%%.*}
echo ">> building the lab cluster (k8s.io/kubernetes $k8s) into $BIN"
echo ">> a first, cold build compiles most of Kubernetes: expect 15-25 minutes on 2 cores"
start=$SECONDS
( while sleep 30; do echo ">> still building the cluster tools ($((SECONDS - start))s so far)"; done ) &
ticker=$!
trap 'kill $ticker 2>/dev/null || true' EXIT
# Without the version stamps every component reports v0.0.0-master, and the
# kubelet registers its node with that version.
ver=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ver+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
CGO_ENABLED=0 ${GO:-go} build -trimpath -ldflags "-s -w$ver" -o "$BIN/" \
	"${cmds[@]/#/k8s.io/kubernetes/cmd/}" ./etcd
# go build may leave an unchanged binary's mtime alone; make compares mtimes.
for c in "${cmds[@]}" etcd; do touch "$BIN/$c"; done
echo ">> cluster tools built in $((SECONDS - start))s"
