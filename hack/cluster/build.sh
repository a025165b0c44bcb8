#!/usr/bin/env bash
# Builds the lab's control plane into BIN (default ./bin): kube-apiserver and
# kubectl from k8s.io/kubernetes, and etcd (embedded). The first build
# compiles most of Kubernetes and takes minutes; this prints a line every
# 30 s so nobody thinks it hung. Later builds come from Go's build cache.
set -euo pipefail
cd "$(dirname "$0")"
BIN=${1:-../../bin}
mkdir -p "$BIN"
echo ">> building kube-apiserver, kubectl and etcd (k8s.io/kubernetes $(awk '$1=="k8s.io/kubernetes"{print $2}' go.mod)) into $BIN"
echo ">> a first, cold build compiles most of Kubernetes: expect 5-15 minutes on 2 cores"
start=$SECONDS
( while sleep 30; do echo ">> still building the cluster tools ($((SECONDS - start))s so far)"; done ) &
ticker=$!
trap 'kill $ticker 2>/dev/null || true' EXIT
CGO_ENABLED=0 ${GO:-go} build -trimpath -ldflags '-s -w' -o "$BIN/" \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl ./etcd
# go build may leave an unchanged binary's mtime alone; make compares mtimes.
touch "$BIN/kube-apiserver" "$BIN/kubectl" "$BIN/etcd"
echo ">> cluster tools built in $((SECONDS - start))s"
