package main

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/leaselb/leaselb/internal/daemon"
)

// runServing runs a daemon's loop next to its metrics and health server.
// Either ending ends both: a loop without probes and metrics is useless in
// a pod, and the server has nothing to report once the loop returns. The
// loop's error wins over the server's.
func runServing(ctx context.Context, o *daemon.Options, log *zap.Logger, reg *prometheus.Registry, health *daemon.Health, run func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serveErr := make(chan error, 1)
	go func() {
		err := o.Serve(ctx, log, reg, health)
		if err != nil {
			cancel()
		}
		serveErr <- err
	}()
	runErr := run(ctx)
	cancel()
	if err := <-serveErr; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}
