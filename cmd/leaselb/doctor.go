package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/leaselb/leaselb/internal/daemon"
	"github.com/leaselb/leaselb/internal/doctor"
)

// Exit statuses of `leaselb doctor`, for scripts.
const (
	doctorExitProblems    = 1 // at least one [FAIL] (or [warn] with --fail-on-warning)
	doctorExitUnreachable = 2 // nothing checked: bad flags, no kubeconfig, or the API server did not answer
)

func runDoctor(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "path to a kubeconfig; empty means $KUBECONFIG, then ~/.kube/config, then the in-cluster config")
	kubeContext := fs.String("context", "", "kubeconfig context to use (default: the current context)")
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = daemon.DefaultNamespace
	}
	fs.StringVar(&ns, "namespace", ns, "leaselb's namespace (pools, advertisements, Leases, speaker and controller)")
	output := fs.String("o", "text", "output format: text or json")
	var opts doctor.Options
	fs.IntVar(&opts.SubnetBitsV4, "subnet-bits-v4", 24, "prefix length assumed for the nodes' IPv4 subnets when checking that pools are on-link")
	fs.IntVar(&opts.SubnetBitsV6, "subnet-bits-v6", 64, "prefix length assumed for the nodes' IPv6 subnets when checking that pools are on-link")
	fs.BoolVar(&opts.RequireClass, "require-class", false, "the controller runs with --require-class: Services without spec.loadBalancerClass are not leaselb's")
	failOnWarn := fs.Bool("fail-on-warning", false, "exit 1 on warnings too, not only on problems")
	timeout := fs.Duration("timeout", 30*time.Second, "give up reading the cluster after this long")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: leaselb doctor [flags]\n\n"+
			"Checks a cluster for what breaks leaselb's layer-2 load balancing and says what to change.\n"+
			"It only reads. Exit status: 0 no problems, %d problems found, %d nothing checked (bad flags, no kubeconfig, API server unreachable).\n\nChecks:\n", doctorExitProblems, doctorExitUnreachable)
		for _, c := range doctor.Checks {
			fmt.Fprintf(fs.Output(), "  %-15s %s\n", c.Name, c.Summary)
		}
		fmt.Fprintf(fs.Output(), "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitError(doctorExitUnreachable) // flag has printed the error and the usage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "leaselb doctor: unexpected arguments %q\n", fs.Args())
		return exitError(doctorExitUnreachable)
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(os.Stderr, "leaselb doctor: -o %q: want text or json\n", *output)
		return exitError(doctorExitUnreachable)
	}

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: *kubeContext}).ClientConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "leaselb doctor: no cluster to check: %v\n(pass --kubeconfig, set $KUBECONFIG, or write ~/.kube/config)\n", err)
		return exitError(doctorExitUnreachable)
	}
	cfg.UserAgent = "leaselb-doctor/" + version
	cfg.Timeout = *timeout
	clients, err := doctor.ClientsFor(cfg)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	snap, err := doctor.Gather(ctx, clients, ns)
	if err != nil {
		if errors.Is(err, doctor.ErrUnreachable) {
			fmt.Fprintf(os.Stderr, "leaselb %v\n", err)
			return exitError(doctorExitUnreachable)
		}
		return err
	}
	report := doctor.NewReport(ns, doctor.Run(snap, opts))
	if *output == "json" {
		err = doctor.WriteJSON(os.Stdout, report)
	} else {
		err = doctor.WriteText(os.Stdout, report)
	}
	if err != nil {
		return err
	}
	if report.Status == doctor.Fail || (*failOnWarn && report.Status == doctor.Warn) {
		return exitError(doctorExitProblems)
	}
	return nil
}
