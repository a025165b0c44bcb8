package main

import (
	"context"
	"math"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/leaselb/leaselb/internal/daemon"
)

// runServing runs a daemon's loop next to its metrics and health server.
// Either ending ends both: a loop without probes and metrics is useless in
// a pod, and the server has nothing to report once the loop returns. The
// loop's error wins over the server's.
func runServing(ctx context.Context, o *daemon.Options, log *zap.Logger, reg *prometheus.Registry, health *daemon.Health, run func(context.Context) error) error {
	setMemoryLimit(log)
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

// setMemoryLimit gives the Go runtime a soft memory limit of 90 % of the
// container's (cgroup v1 or v2), unless GOMEMLIMIT is set or AUTOMEMLIMIT
// is "off" (or another ratio): the garbage collector then works harder as
// the limit nears instead of the kernel killing the pod, e.g. while a
// re-list after an API outage holds two copies of the caches.
func setMemoryLimit(log *zap.Logger) {
	limit, err := memlimit.Set()
	switch {
	case err != nil:
		log.Warn("no soft memory limit from the container's cgroup; set GOMEMLIMIT to give one", zap.Error(err))
	case limit < math.MaxInt64:
		log.Info("Go runtime soft memory limit", zap.Int64("bytes", limit))
	}
}
