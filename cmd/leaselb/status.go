package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/leaselb/leaselb/internal/daemon"
	"github.com/leaselb/leaselb/internal/doctor"
	"github.com/leaselb/leaselb/internal/status"
)

// statusExitUnreachable is the exit status of `leaselb status` when nothing
// could be shown: bad flags, no kubeconfig, or the API server did not answer.
const statusExitUnreachable = 2

// statusFlags are the parsed flags and argument of `leaselb status`.
type statusFlags struct {
	kubeconfig, context string
	run                 status.RunOptions
}

// parseStatusFlags parses args; errors have been printed to stderr.
func parseStatusFlags(args []string, stderr io.Writer) (statusFlags, error) {
	var f statusFlags
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to a kubeconfig; empty means $KUBECONFIG, then ~/.kube/config, then the in-cluster config")
	fs.StringVar(&f.context, "context", "", "kubeconfig context to use (default: the current context)")
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = daemon.DefaultNamespace
	}
	fs.StringVar(&f.run.Namespace, "namespace", ns, "leaselb's namespace (Leases, pools, advertisements, the speaker DaemonSet)")
	fs.StringVar(&f.run.Namespace, "n", ns, "shorthand for --namespace")
	output := fs.String("o", "", "output format: empty for the table, wide, json or yaml (docs/status.md describes the structure)")
	fs.BoolVar(&f.run.Watch, "watch", false, "print again whenever what is shown changes (watches, no polling), until interrupted")
	fs.BoolVar(&f.run.Watch, "w", false, "shorthand for --watch")
	fs.DurationVar(&f.run.SyncTimeout, "timeout", 30*time.Second, "how long to wait for the first list of each source; one not listed by then is reported as unreadable")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s status [flags] [NAMESPACE/]NAME\n\n"+
			"Shows which node answers for each LoadBalancer Service's IPs, on which interfaces, since when, the last\n"+
			"handover and why; for a VIP nobody announces, every node's reason (the speakers' own decision).\n"+
			"NAME alone matches that Service name in every namespace. It only reads.\n\nFlags:\n", progName)
		fs.PrintDefaults()
	}
	// Flags may follow the Service argument, as kubectl users type them.
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return f, err
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(rest) > 1 {
		fmt.Fprintf(stderr, "%s status: one Service at most, got %q\n", progName, rest)
		return f, errors.New("too many arguments")
	}
	if len(rest) == 1 {
		f.run.Service = rest[0]
	}
	format, err := status.ParseFormat(*output)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return f, err
	}
	f.run.Format = format
	return f, nil
}

func runStatus(ctx context.Context, args []string) error {
	f, err := parseStatusFlags(args, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitError(statusExitUnreachable)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: f.context}).ClientConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s status: no cluster: %v\n(pass --kubeconfig, set $KUBECONFIG, or write ~/.kube/config)\n", progName, err)
		return exitError(statusExitUnreachable)
	}
	cfg.UserAgent = "leaselb-status/" + version
	clients, err := doctor.ClientsFor(cfg)
	if err != nil {
		return err
	}
	err = status.Run(ctx, clients, f.run, os.Stdout)
	if errors.Is(err, status.ErrUnreachable) {
		fmt.Fprintf(os.Stderr, "%s %v\n", progName, err)
		return exitError(statusExitUnreachable)
	}
	if errors.Is(err, context.Canceled) {
		return nil // interrupted
	}
	return err
}
