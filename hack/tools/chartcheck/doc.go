// Package chartcheck renders leaselb's Helm chart (charts/leaselb) with
// Helm's own Go library, the code `helm template` and `helm install` run,
// and its tests hold the chart to manifests/: at default values the chart
// renders the objects of manifests/leaselb.yaml, so the two never drift. It
// lives in the tools module because Helm's dependency graph must not enter
// the product's go.mod.
package chartcheck
