// Command scalespeaker is one simulated node of `make bench-scale`: the real
// speaker (package internal/speaker, with its informers, election and loop)
// with its own client, but with a wire side that only records what it would
// announce, so a hundred of them run on one machine without raw sockets.
//
// SIGTERM stops it gracefully (it releases its leases, as a real speaker
// does); SIGUSR1 writes a heap profile and a 10 s CPU profile into
// -profile-dir; SIGUSR2 writes the counts of its own API requests (reads,
// watches, writes) into <profile-dir>/<node>.requests. Once the speaker is ready it creates -ready-file, which the
// benchmark waits for as a rolling update waits for a ready pod.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/leaselb/leaselb/internal/daemon"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "scalespeaker:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("scalespeaker", flag.ContinueOnError)
	var o daemon.Options
	o.AddFlags(fs, "0", "0", speakerQPS, speakerBurst)
	node := fs.String("node-name", "", "the Node this simulated speaker stands for")
	mac := fs.String("mac", "02:5c:00:00:00:01", "the MAC the simulated wire side reports (published on the node lease)")
	ready := fs.String("ready-file", "", "file created once the speaker is ready (caches synced, node lease renewed)")
	profDir := fs.String("profile-dir", "", "where SIGUSR1 writes <node>-<n>.heap and <node>-<n>.cpu")
	cpuStart := fs.Duration("cpu-profile-start", 0, "profile the CPU for this long from the start into <profile-dir>/<node>-start.cpu")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	if *node == "" {
		return errors.New("-node-name is required")
	}
	hw, err := net.ParseMAC(*mac)
	if err != nil {
		return fmt.Errorf("-mac: %w", err)
	}
	if *cpuStart > 0 && *profDir != "" {
		stop, err := startCPUProfile(filepath.Join(*profDir, *node+"-start.cpu"))
		if err != nil {
			return err
		}
		time.AfterFunc(*cpuStart, stop)
	}
	log, err := o.Logger()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	reqs := newRequests()
	s, err := newSpeaker(&o, *node, newWire(hw), reqs, log)
	if err != nil {
		return err
	}
	if *ready != "" {
		go markReady(ctx, s.Ready, *ready, log)
	}
	if *profDir != "" {
		// Subscribed before anyone can send them: unhandled, both signals
		// would end the process.
		usr1, usr2 := make(chan os.Signal, 1), make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		signal.Notify(usr2, syscall.SIGUSR2)
		go profileOnSignal(ctx, usr1, *profDir, *node, log)
		go countsOnSignal(ctx, usr2, reqs, filepath.Join(*profDir, *node+".requests"), log)
	}
	return s.Run(ctx)
}

// markReady creates path once ready reports nil, as a readiness probe
// would see it.
func markReady(ctx context.Context, ready func() error, path string, log *zap.Logger) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ready() == nil {
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				log.Warn("ready file", zap.Error(err))
			}
			return
		}
	}
}

// profileOnSignal writes a heap profile and a 10 s CPU profile on every
// SIGUSR1.
func profileOnSignal(ctx context.Context, sig <-chan os.Signal, dir, node string, log *zap.Logger) {
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		base := filepath.Join(dir, fmt.Sprintf("%s-%d", node, n))
		if err := writeHeap(base + ".heap"); err != nil {
			log.Warn("heap profile", zap.Error(err))
		}
		stop, err := startCPUProfile(base + ".cpu")
		if err != nil {
			log.Warn("CPU profile", zap.Error(err))
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
		}
		stop()
	}
}

// countsOnSignal writes the request counts on every SIGUSR2.
func countsOnSignal(ctx context.Context, sig <-chan os.Signal, reqs *requests, path string, log *zap.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		if err := reqs.write(path); err != nil {
			log.Warn("request counts", zap.Error(err))
		}
	}
}

func writeHeap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
