// Command chart renders, packages and installs charts/leaselb with Helm's Go
// library, pinned in this module, so `make chart-template`, `make
// chart-package` and the lab's Helm scenario need no helm binary:
//
//	chart template [-n NAMESPACE] [--set k=v ...] CHART_DIR   # the manifests, to stdout
//	chart package -d DIR CHART_DIR                             # DIR/leaselb-<version>.tgz
//	chart install --kubeconfig FILE [-n NAMESPACE] [--set k=v ...] CHART_DIR  # helm install leaselb, waits for it
//	chart uninstall --kubeconfig FILE [-n NAMESPACE]                           # helm uninstall leaselb
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/cli"

	"github.com/leaselb/leaselb/hack/tools/chartcheck"
)

type sets []string

func (s *sets) String() string     { return strings.Join(*s, ",") }
func (s *sets) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: chart template|package|install|uninstall [flags] [CHART_DIR]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "template":
		err = template(os.Args[2:])
	case "package":
		err = pack(os.Args[2:])
	case "install":
		err = install(os.Args[2:])
	case "uninstall":
		err = uninstall(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "chart: unknown command %q: want template, package, install or uninstall\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "chart %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func template(args []string) error {
	fs := flag.NewFlagSet("template", flag.ExitOnError)
	ns := fs.String("n", chartcheck.Namespace, "release namespace")
	var set sets
	fs.Var(&set, "set", "a value, as helm's --set (repeatable)")
	_ = fs.Parse(args)
	ch, vals, err := chartAndValues(fs, set)
	if err != nil {
		return err
	}
	out, err := chartcheck.Render(ch, *ns, vals)
	if err != nil {
		return err
	}
	_, err = os.Stdout.WriteString(out)
	return err
}

func pack(args []string) error {
	fs := flag.NewFlagSet("package", flag.ExitOnError)
	dir := fs.String("d", "dist", "directory to write the archive to")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("want one chart directory, got %q", fs.Args())
	}
	ch, err := chartcheck.Load(fs.Arg(0))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	p, err := chartcheck.Package(ch, *dir)
	if err != nil {
		return err
	}
	fmt.Println(p)
	return nil
}

// releaseName is the name the lab and the docs install the chart under.
const releaseName = "leaselb"

// actionConfig is Helm's action configuration for the cluster of the
// kubeconfig, releases stored as Secrets in namespace.
func actionConfig(kubeconfig, namespace string) (*action.Configuration, error) {
	settings := cli.New()
	settings.KubeConfig = kubeconfig
	settings.SetNamespace(namespace)
	cfg := new(action.Configuration)
	logf := func(format string, v ...any) { fmt.Fprintf(os.Stderr, format+"\n", v...) }
	if err := cfg.Init(settings.RESTClientGetter(), namespace, "secret", logf); err != nil {
		return nil, err
	}
	return cfg, nil
}

func install(args []string) error {
	fs := flag.NewFlagSet("install", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	ns := fs.String("n", chartcheck.Namespace, "release namespace (must exist, with its Pod Security labels)")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the workloads to be ready")
	var set sets
	fs.Var(&set, "set", "a value, as helm's --set (repeatable)")
	_ = fs.Parse(args)
	ch, vals, err := chartAndValues(fs, set)
	if err != nil {
		return err
	}
	cfg, err := actionConfig(*kubeconfig, *ns)
	if err != nil {
		return err
	}
	in := action.NewInstall(cfg)
	in.ReleaseName = releaseName
	in.Namespace = *ns
	in.Wait = true
	in.Timeout = *timeout
	rel, err := in.Run(ch, vals)
	if err != nil {
		return err
	}
	fmt.Printf("release %s in %s: %s (chart %s)\n", rel.Name, rel.Namespace, rel.Info.Status, rel.Chart.Metadata.Version)
	return nil
}

func uninstall(args []string) error {
	fs := flag.NewFlagSet("uninstall", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	ns := fs.String("n", chartcheck.Namespace, "release namespace")
	_ = fs.Parse(args)
	cfg, err := actionConfig(*kubeconfig, *ns)
	if err != nil {
		return err
	}
	un := action.NewUninstall(cfg)
	un.Wait = true
	un.Timeout = 2 * time.Minute
	res, err := un.Run(releaseName)
	if err != nil {
		return err
	}
	fmt.Printf("release %s uninstalled; kept: %s\n", releaseName, strings.TrimSpace(res.Info))
	return nil
}

// chartAndValues loads the one chart directory named on the command line
// and parses the --set values.
func chartAndValues(fs *flag.FlagSet, set sets) (*chart.Chart, map[string]any, error) {
	if fs.NArg() != 1 {
		return nil, nil, fmt.Errorf("want one chart directory, got %q", fs.Args())
	}
	ch, err := chartcheck.Load(fs.Arg(0))
	if err != nil {
		return nil, nil, err
	}
	vals, err := chartcheck.ParseSets(set)
	if err != nil {
		return nil, nil, err
	}
	return ch, vals, nil
}
