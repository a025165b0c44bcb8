// Package manifests holds leaselb's install manifests: the kustomize sources
// (namespace.yaml, rbac/, controller/, speaker/ and the generated crds/),
// the one-file bundle leaselb.yaml rendered from them by `make manifests`,
// example objects (examples/), sample Prometheus alerts (prometheus/) and a
// Grafana dashboard (grafana/leaselb.json).
//
// The package has no Go code to import: its tests check the bundle against
// its sources and hold the install to its promises (least-privilege RBAC,
// no Secrets, the speaker with NET_RAW only, the controller non-root). It
// must never grow runtime code; the daemons do not read these files.
package manifests
