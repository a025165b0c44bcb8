package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"

	"github.com/leaselb/leaselb/internal/client/clientset/versioned"
	"github.com/leaselb/leaselb/internal/controller"
	"github.com/leaselb/leaselb/internal/daemon"
)

func runController(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	var o daemon.Options
	o.AddFlags(fs, ":7472", ":7473", 20, 50)
	requireClass := fs.Bool("require-class", false,
		"serve only Services with spec.loadBalancerClass "+`"leaselb.io/l2"`+"; by default Services without a class are served too")
	le := controller.LeaderElection{}
	fs.BoolVar(&le.Enabled, "leader-elect", true,
		"elect one active replica on the Lease "+controller.LeaseName+" in --namespace; disable only when a single replica runs")
	fs.StringVar(&le.Identity, "leader-elect-identity", defaultIdentity(),
		"this replica's name in the Lease: $POD_NAME, else the hostname")
	fs.DurationVar(&le.LeaseDuration, "leader-elect-lease-duration", controller.DefaultLeaseDuration,
		"how long a standby waits after it saw the Lease change (on its own clock) before it takes over a leader that stopped renewing")
	fs.DurationVar(&le.RenewDeadline, "leader-elect-renew-deadline", controller.DefaultRenewDeadline,
		"how long the leader goes without a successful renewal before it stops leading; must be shorter than the lease duration")
	fs.DurationVar(&le.RenewPeriod, "leader-elect-retry-period", controller.DefaultRenewPeriod,
		"how often the leader renews the Lease (standbys never poll: they watch it); shorter than the renew deadline")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := le.Validate(); err != nil {
		return err
	}

	log, err := o.Logger()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	cfg, err := o.RESTConfig("leaselb-controller/" + version)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	lb, err := versioned.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("leaselb client: %w", err)
	}

	reg := daemon.NewRegistry()
	health := &daemon.Health{}
	c, err := controller.New(controller.Config{
		Kube:           kube,
		Leaselb:        lb,
		Namespace:      o.Namespace,
		RequireClass:   *requireClass,
		LeaderElection: le,
		Log:            log,
		Registerer:     reg,
		Health:         health,
	})
	if err != nil {
		return err
	}
	log.Info("starting controller", zap.String("version", version), zap.String("namespace", o.Namespace),
		zap.Bool("requireClass", *requireClass), zap.Bool("leaderElect", le.Enabled), zap.String("identity", le.Identity))

	runErr := runServing(ctx, &o, log, reg, health, c.Run)
	if runErr == nil {
		log.Info("controller stopped")
	}
	return runErr
}

// defaultIdentity is the pod name (the Deployment passes it through the
// downward API), else the hostname, which is the pod name too in a pod.
func defaultIdentity() string {
	if n := os.Getenv("POD_NAME"); n != "" {
		return n
	}
	h, _ := os.Hostname()
	return h
}
