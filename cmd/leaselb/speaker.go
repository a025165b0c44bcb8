package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"

	"github.com/leaselb/leaselb/api/v1alpha1"
	"github.com/leaselb/leaselb/election"
	"github.com/leaselb/leaselb/internal/client/clientset/versioned"
	"github.com/leaselb/leaselb/internal/daemon"
	"github.com/leaselb/leaselb/internal/speaker"
	"github.com/leaselb/leaselb/l2"
)

// Client-side rate limits of the speaker. A node taking over 1,000 groups
// claims 1,000 VIP leases, and a node stopping with 1,000 groups must
// release them all within its 1 s shutdown budget: the election's benchmark
// measured 0.04 s to claim and 0.03 s to release 1,000 at 500/s with a
// burst of 1,000, against 2.5 s and only ~700 released at 200/500. The
// election also caps the writes in flight (64), so the API server never
// sees 1,000 at once; in steady state the speaker writes only its node
// lease.
const (
	speakerQPS   = 500
	speakerBurst = 1000
	// Events get their own, smaller limiter so a burst of Announcing Events
	// never delays a lease write.
	speakerEventQPS   = 20
	speakerEventBurst = 100
)

func runSpeaker(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("speaker", flag.ContinueOnError)
	var o daemon.Options
	o.AddFlags(fs, ":7474", ":7475", speakerQPS, speakerBurst)
	node := fs.String("node-name", os.Getenv("NODE_NAME"),
		"name of the Node this speaker runs on (default $NODE_NAME; the DaemonSet sets it from spec.nodeName)")
	requireClass := fs.Bool("require-class", false,
		"announce only Services with spec.loadBalancerClass "+`"leaselb.io/l2"`+"; by default Services without a class are announced too (use the controller's setting)")
	ignoreExclude := fs.Bool("ignore-exclude-label", false,
		"let nodes labelled "+v1alpha1.LabelExcludeFromLB+" announce too (kubeadm labels control-plane nodes so; single-node and control-plane-only clusters need this). Give every speaker the same setting")
	renew := fs.Duration("node-lease-renew", election.DefaultNodeLeaseRenew,
		"how often the node lease is renewed while this node holds a VIP")
	duration := fs.Duration("node-lease-duration", election.DefaultNodeLeaseDuration,
		"how long a holder's node lease may stay unchanged before other nodes take its VIPs (the failover time)")
	idle := fs.Duration("idle-renew", election.DefaultIdleRenew,
		"how often the node lease is renewed while this node holds nothing")
	rankStep := fs.Duration("rank-step", election.DefaultRankStep,
		"how long each candidate waits after the one ranked before it before claiming a free VIP")
	wireCheck := fs.Bool("wire-check", true,
		"probe a VIP holder that missed a node-lease renewal on the shared link (unicast ARP / NS to its MACs) and take its VIPs after 1.5 s instead of --node-lease-duration when it does not answer; a holder that answers keeps the full lapse")
	refresh := fs.Duration("refresh-interval", l2.DefaultRefresh,
		"period of gratuitous ARP / unsolicited NA refreshes for held VIPs, so switches and clients do not forget them; 0 turns them off")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *node == "" {
		return errors.New("no node name: pass --node-name or set $NODE_NAME (the DaemonSet sets it from spec.nodeName)")
	}
	timing := election.Timing{NodeLeaseRenew: *renew, NodeLeaseDuration: *duration, IdleRenew: *idle, RankStep: *rankStep}
	if err := timing.Validate(); err != nil {
		return err
	}
	if *refresh < 0 {
		return errors.New("--refresh-interval must not be negative")
	}

	log, err := o.Logger()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	cfg, err := o.RESTConfig("leaselb-speaker/" + version)
	if err != nil {
		return err
	}
	fresh := speaker.NewFreshness()
	cfg.Wrap(fresh.WrapTransport)
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	evCfg := *cfg
	evCfg.QPS, evCfg.Burst = speakerEventQPS, speakerEventBurst
	events, err := kubernetes.NewForConfig(&evCfg)
	if err != nil {
		return fmt.Errorf("kubernetes client for events: %w", err)
	}
	lb, err := versioned.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("leaselb client: %w", err)
	}

	reg := daemon.NewRegistry()
	health := &daemon.Health{}
	s, err := speaker.New(speaker.Config{
		Freshness:          fresh,
		Kube:               kube,
		Events:             events,
		Leaselb:            lb,
		Namespace:          o.Namespace,
		Node:               *node,
		RequireClass:       *requireClass,
		IgnoreExcludeLabel: *ignoreExclude,
		Election:           timing,
		Refresh:            *refresh,
		WireCheck:          *wireCheck,
		Logger:             log,
		Registerer:         reg,
		Health:             health,
	})
	if err != nil {
		return err
	}
	log.Info("starting speaker", zap.String("version", version), zap.String("node", *node), zap.String("namespace", o.Namespace),
		zap.Bool("requireClass", *requireClass), zap.Bool("ignoreExcludeLabel", *ignoreExclude), zap.Duration("nodeLeaseRenew", *renew), zap.Duration("nodeLeaseDuration", *duration),
		zap.Duration("idleRenew", *idle), zap.Duration("rankStep", *rankStep), zap.Duration("refreshInterval", *refresh))

	return runServing(ctx, &o, log, reg, health, s.Run)
}
