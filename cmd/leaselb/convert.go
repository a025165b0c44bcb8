package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/leaselb/leaselb/internal/convert"
	"github.com/leaselb/leaselb/internal/daemon"
)

// Exit statuses of `leaselb convert`, for scripts.
const (
	convertExitLoss    = 1 // something cannot carry over and --drop-unsupported was not given; nothing written
	convertExitNoInput = 2 // nothing converted: bad flags, unreadable file, API server unreachable, no MetalLB configuration
)

// The MetalLB resources --from-cluster reads. BGPPeer is served as v1beta2
// (and v1beta1 by older releases); whichever answers first is used.
var metallbResources = [][]schema.GroupVersionResource{
	{{Group: "metallb.io", Version: "v1beta1", Resource: "ipaddresspools"}},
	{{Group: "metallb.io", Version: "v1beta1", Resource: "l2advertisements"}},
	{{Group: "metallb.io", Version: "v1beta1", Resource: "bgpadvertisements"}},
	{{Group: "metallb.io", Version: "v1beta2", Resource: "bgppeers"}, {Group: "metallb.io", Version: "v1beta1", Resource: "bgppeers"}},
	{{Group: "metallb.io", Version: "v1beta1", Resource: "communities"}},
	{{Group: "metallb.io", Version: "v1beta1", Resource: "bfdprofiles"}},
}

type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

func runConvert(ctx context.Context, args []string) error {
	return convertMain(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

func convertMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files fileList
	fs.Var(&files, "f", "a file or directory of MetalLB configuration (YAML or JSON, as for kubectl apply -f); - reads stdin; repeatable")
	fs.Var(&files, "filename", "the same as -f")
	fromCluster := fs.Bool("from-cluster", false, "read MetalLB's objects, its legacy ConfigMap and the LoadBalancer Services from the cluster")
	kubeconfig := fs.String("kubeconfig", "", "with --from-cluster: path to a kubeconfig; empty means $KUBECONFIG, then ~/.kube/config, then the in-cluster config")
	kubeContext := fs.String("context", "", "with --from-cluster: kubeconfig context to use (default: the current context)")
	metallbNS := fs.String("metallb-namespace", "metallb-system", "with --from-cluster: MetalLB's namespace, where its legacy ConfigMap \"config\" lives")
	ns := fs.String("namespace", daemon.DefaultNamespace, "namespace of the leaselb objects written (leaselb's namespace)")
	drop := fs.Bool("drop-unsupported", false, "write what can be converted even when something cannot carry over (it is listed on stderr)")
	timeout := fs.Duration("timeout", 30*time.Second, "with --from-cluster: give up reading the cluster after this long")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: leaselb convert (-f FILE... | --from-cluster) [flags] > leaselb-config.yaml\n\n"+
			"Converts MetalLB's layer-2 configuration (metallb.io IPAddressPools and L2Advertisements, and the\n"+
			"address-pools of the ConfigMap \"config\" of MetalLB 0.12 and older) into leaselb objects on stdout,\n"+
			"and says on stderr what cannot carry over (BGP peers and advertisements, communities, BFD profiles,\n"+
			"BGP pools) and what becomes of each Service's MetalLB annotations and IP.\n"+
			"Exit status: 0 converted, %d something would be lost (nothing written; see --drop-unsupported),\n"+
			"%d nothing converted (bad flags, unreadable input, API server unreachable, no MetalLB configuration).\n\nFlags:\n",
			convertExitLoss, convertExitNoInput)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitError(convertExitNoInput)
	}
	fail := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "leaselb convert: "+format+"\n", a...)
		return exitError(convertExitNoInput)
	}
	if fs.NArg() > 0 {
		return fail("unexpected arguments %q (files go after -f)", fs.Args())
	}
	if (len(files) == 0) == !*fromCluster {
		return fail("give -f FILE (repeatable, - for stdin) or --from-cluster, and not both")
	}

	var objs []map[string]any
	var err error
	if *fromCluster {
		objs, err = readCluster(ctx, *kubeconfig, *kubeContext, *metallbNS, *timeout)
	} else {
		objs, err = readFiles(files, stdin)
	}
	if err != nil {
		return fail("%v", err)
	}

	res := convert.Convert(objs, convert.Options{Namespace: *ns})
	for _, n := range res.Notes {
		fmt.Fprintf(stderr, "note: %s\n", n)
	}
	if len(res.Pools) == 0 && len(res.Advertisements) == 0 && len(res.Losses) == 0 {
		return fail("found no MetalLB configuration (metallb.io IPAddressPools or L2Advertisements, or the legacy ConfigMap \"config\")")
	}
	label := "not converted"
	if *drop {
		label = "dropped"
	}
	for _, l := range res.Losses {
		fmt.Fprintf(stderr, "%s: %s\n", label, l)
	}
	if len(res.Losses) > 0 && !*drop {
		fmt.Fprintf(stderr, "leaselb convert: %d thing(s) cannot carry over, so nothing was written; fix them, or pass --drop-unsupported to convert the rest\n", len(res.Losses))
		return exitError(convertExitLoss)
	}
	if err := convert.WriteYAML(stdout, res); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "leaselb convert: wrote %d IPAddressPool(s) and %d L2Advertisement(s) for namespace %s\n",
		len(res.Pools), len(res.Advertisements), *ns)
	return nil
}

// readFiles reads -f arguments as kubectl does: a file, a directory's
// .yaml, .yml and .json files, or - for stdin.
func readFiles(files []string, stdin io.Reader) ([]map[string]any, error) {
	var out []map[string]any
	read := func(name string, r io.Reader) error {
		objs, err := convert.Decode(r)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, objs...)
		return nil
	}
	for _, f := range files {
		if f == "-" {
			if err := read("stdin", stdin); err != nil {
				return nil, err
			}
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		paths := []string{f}
		if st.IsDir() {
			entries, err := os.ReadDir(f)
			if err != nil {
				return nil, err
			}
			paths = nil
			for _, e := range entries {
				if ext := filepath.Ext(e.Name()); !e.IsDir() && slices.Contains([]string{".yaml", ".yml", ".json"}, ext) {
					paths = append(paths, filepath.Join(f, e.Name()))
				}
			}
		}
		for _, p := range paths {
			fh, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			err = read(p, fh)
			fh.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// readCluster lists MetalLB's objects, its legacy ConfigMap and the
// LoadBalancer Services through the dynamic client, so no MetalLB Go types
// are needed.
func readCluster(ctx context.Context, kubeconfig, kubeContext, metallbNS string, timeout time.Duration) ([]map[string]any, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("no cluster to read: %v (pass --kubeconfig, set $KUBECONFIG, or write ~/.kube/config)", err)
	}
	cfg.UserAgent = "leaselb-convert/" + version
	cfg.Timeout = timeout
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return clusterObjects(ctx, dyn, metallbNS)
}

// clusterObjects reads what convert needs through dyn.
func clusterObjects(ctx context.Context, dyn dynamic.Interface, metallbNS string) ([]map[string]any, error) {
	var out []map[string]any
	for _, alternatives := range metallbResources {
		for _, gvr := range alternatives {
			list, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
			if apierrors.IsNotFound(err) {
				continue // not served: MetalLB not installed, or another version
			}
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", gvr.GroupResource(), err)
			}
			for _, item := range list.Items {
				out = append(out, item.Object)
			}
			break
		}
	}
	cm, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(metallbNS).Get(ctx, "config", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("get ConfigMap %s/config: %w", metallbNS, err)
	default:
		out = append(out, cm.Object)
	}
	svcs, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "services"}).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list Services: %w", err)
	}
	for _, s := range svcs.Items {
		if t, _, _ := unstructuredString(s.Object, "spec", "type"); t == "LoadBalancer" {
			out = append(out, s.Object)
		}
	}
	return out, nil
}

func unstructuredString(obj map[string]any, path ...string) (string, bool, error) {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur = m[p]
	}
	s, ok := cur.(string)
	return s, ok, nil
}
