package chartcheck

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/strvals"
)

// ReleaseName is the release name Render uses, as in the README's
// `helm install leaselb charts/leaselb`.
const ReleaseName = "leaselb"

// Namespace is the namespace the README installs into; manifests/ use it.
const Namespace = "leaselb-system"

// Load reads the chart directory.
func Load(dir string) (*chart.Chart, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("chartcheck: load %s: %w", dir, err)
	}
	return ch, nil
}

// ParseSets turns `--set` expressions (a.b=c, comma-separated or repeated)
// into values, as helm's --set does.
func ParseSets(sets []string) (map[string]any, error) {
	vals := map[string]any{}
	for _, s := range sets {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, fmt.Errorf("chartcheck: --set %q: %w", s, err)
		}
	}
	return vals, nil
}

// Render renders the chart as `helm template --namespace namespace` does
// with the given values over the chart's defaults: the manifests in Helm's
// install order, as one YAML stream. NOTES.txt is left out.
func Render(ch *chart.Chart, namespace string, values map[string]any) (string, error) {
	opts := chartutil.ReleaseOptions{Name: ReleaseName, Namespace: namespace, Revision: 1, IsInstall: true}
	vals, err := chartutil.ToRenderValues(ch, values, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return "", fmt.Errorf("chartcheck: values: %w", err)
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return "", fmt.Errorf("chartcheck: render: %w", err)
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, chartutil.DefaultVersionSet, releaseutil.InstallOrder)
	if err != nil {
		return "", fmt.Errorf("chartcheck: %w", err)
	}
	if len(hooks) > 0 {
		return "", errors.New("chartcheck: the chart renders hooks; manifests/ has none to match them")
	}
	var b strings.Builder
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", path.Clean(m.Name), strings.TrimSpace(m.Content))
	}
	return b.String(), nil
}

// Notes renders NOTES.txt, what `helm install` prints afterwards.
func Notes(ch *chart.Chart, namespace string, values map[string]any) (string, error) {
	opts := chartutil.ReleaseOptions{Name: ReleaseName, Namespace: namespace, Revision: 1, IsInstall: true}
	vals, err := chartutil.ToRenderValues(ch, values, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return "", fmt.Errorf("chartcheck: values: %w", err)
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return "", fmt.Errorf("chartcheck: render: %w", err)
	}
	return files[path.Join(ch.Name(), "templates", "NOTES.txt")], nil
}

// Package writes the chart archive (what `helm package` writes) into dir
// and returns its path.
func Package(ch *chart.Chart, dir string) (string, error) {
	p, err := chartutil.Save(ch, dir)
	if err != nil {
		return "", fmt.Errorf("chartcheck: package: %w", err)
	}
	return p, nil
}
