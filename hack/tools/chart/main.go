// Command chart renders and packages charts/leaselb with Helm's Go library,
// pinned in this module, so `make chart-template` and `make chart-package`
// need no helm binary:
//
//	chart template [-n NAMESPACE] [--set k=v ...] CHART_DIR   # the manifests, to stdout
//	chart package -d DIR CHART_DIR                             # DIR/leaselb-<version>.tgz
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/leaselb/leaselb/hack/tools/chartcheck"
)

type sets []string

func (s *sets) String() string     { return strings.Join(*s, ",") }
func (s *sets) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: chart template|package [flags] CHART_DIR")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "template":
		err = template(os.Args[2:])
	case "package":
		err = pack(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "chart: unknown command %q: want template or package\n", os.Args[1])
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
	if fs.NArg() != 1 {
		return fmt.Errorf("want one chart directory, got %q", fs.Args())
	}
	ch, err := chartcheck.Load(fs.Arg(0))
	if err != nil {
		return err
	}
	vals, err := chartcheck.ParseSets(set)
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
