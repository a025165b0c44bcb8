package main

// Every use of the speaker's and the election's constructors in the scale
// benchmark is in this file, so a change of their configuration is a few
// lines here. It wires a speaker exactly as `leaselb speaker` does
// (cmd/leaselb/speaker.go), with the default timings.

import (
	"fmt"

	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"

	"github.com/leaselb/leaselb/internal/client/clientset/versioned"
	"github.com/leaselb/leaselb/internal/daemon"
	"github.com/leaselb/leaselb/internal/speaker"
)

// The client-side rate limits of `leaselb speaker` (cmd/leaselb/speaker.go).
const (
	speakerQPS        = 500
	speakerBurst      = 1000
	speakerEventQPS   = 20
	speakerEventBurst = 100
)

func newSpeaker(o *daemon.Options, node string, an speaker.Announcer, reqs *requests, log *zap.Logger) (*speaker.Speaker, error) {
	cfg, err := o.RESTConfig("leaselb-scalespeaker")
	if err != nil {
		return nil, err
	}
	fresh := speaker.NewFreshness()
	cfg.Wrap(fresh.WrapTransport)
	cfg.Wrap(reqs.wrap)
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	evCfg := *cfg
	evCfg.QPS, evCfg.Burst = speakerEventQPS, speakerEventBurst
	events, err := kubernetes.NewForConfig(&evCfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for events: %w", err)
	}
	lb, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("leaselb client: %w", err)
	}
	return speaker.New(speaker.Config{
		Freshness:  fresh,
		Kube:       kube,
		Events:     events,
		Leaselb:    lb,
		Namespace:  o.Namespace,
		Node:       node,
		Refresh:    0,
		Logger:     log,
		Registerer: daemon.NewRegistry(),
		Announcer:  an,
	})
}
