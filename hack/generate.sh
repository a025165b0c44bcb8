#!/usr/bin/env bash
# Regenerates everything derived from api/v1alpha1: deepcopy functions, the
# CRD manifests and the typed client (clientset, listers, informers).
# Run through `make generate`; CI checks that the result is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin
pkg=github.com/leaselb/leaselb
out=internal/client
hdr=hack/boilerplate.go.txt

"$bin/controller-gen" object:headerFile="$hdr" paths=./api/...
"$bin/controller-gen" crd paths=./api/... output:crd:artifacts:config=manifests/crds

rm -rf "$out"
"$bin/client-gen" --go-header-file "$hdr" --clientset-name versioned \
	--input-base "" --input "$pkg/api/v1alpha1" \
	--output-dir "$out/clientset" --output-pkg "$pkg/$out/clientset"
"$bin/lister-gen" --go-header-file "$hdr" \
	--output-dir "$out/listers" --output-pkg "$pkg/$out/listers" "$pkg/api/v1alpha1"
"$bin/informer-gen" --go-header-file "$hdr" \
	--versioned-clientset-package "$pkg/$out/clientset/versioned" \
	--listers-package "$pkg/$out/listers" \
	--output-dir "$out/informers" --output-pkg "$pkg/$out/informers" "$pkg/api/v1alpha1"
