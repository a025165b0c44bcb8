//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/leaselb/leaselb/e2e/lab"
)

// The guards against false failovers: events that look like a dead holder
// from far away but are not. In each, no VIP may move, and the VIPs keep
// answering from their holder.

// TestGuardSlowAPIServer: 1.5 s of added latency on the API server's link
// (lab.DelayAPI) for 20 s (every renewal arrives late, no node lease is ever missed by
// more than that) moves no VIP.
func TestGuardSlowAPIServer(t *testing.T) {
	l := needLeaselb(t)
	ctx := context.Background()
	vips := guardServices(t, l, "slow-api", 3)
	before := holders(l, vips)
	l.DelayAPI(1500 * time.Millisecond)
	t.Cleanup(l.UndelayAPI)
	probe := l.StartProbe(vips[0], 8080, 100*time.Millisecond, 2*time.Second)
	moved := watchHolders(ctx, l, vips, before, 20*time.Second)
	l.UndelayAPI()
	// Anything the latency set in motion shows within a lease duration.
	moved = append(moved, watchHolders(ctx, l, vips, before, 3*time.Second)...)
	samples := probe.Stop()
	for _, m := range moved {
		t.Errorf("API server 1.5 s slow for 20 s: %s", m)
	}
	wait, _ := lab.LongestWait(samples)
	t.Logf("API server 1.5 s slow for 20 s: holders %v unchanged; %s longest wait of a request", before, wait.Round(time.Millisecond))
}

// TestGuardPausedSpeaker: the holder's speaker stopped (SIGSTOP) for
// 700 ms, then continued, keeps its VIPs.
func TestGuardPausedSpeaker(t *testing.T) {
	l := needLeaselb(t)
	ctx := context.Background()
	vips := guardServices(t, l, "paused", 3)
	before := holders(l, vips)
	h := before[vips[0]]
	p := l.Proc("speaker-" + h)
	if p == nil {
		t.Fatalf("no speaker process on %s", h)
	}
	p.Signal(syscall.SIGSTOP)
	time.Sleep(700 * time.Millisecond)
	p.Signal(syscall.SIGCONT)
	for _, m := range watchHolders(ctx, l, vips, before, 5*time.Second) {
		t.Errorf("speaker on %s paused for 700 ms: %s", h, m)
	}
	oneMAC(t, l, vips[0], h)
	t.Logf("speaker on %s paused for 700 ms: holders %v unchanged", h, before)
}

// guardServices creates n one-port Services and returns their VIPs once
// they answer.
func guardServices(t *testing.T, l *lab.Lab, prefix string, n int) []string {
	t.Helper()
	var vips []string
	for i := range n {
		vip := createService(t, l, ServiceSpecFor(fmt.Sprintf("%s-%d", prefix, i), 8080), 1)[0]
		serving(t, l, vip, 8080)
		holder(t, l, vip, "")
		vips = append(vips, vip)
	}
	return vips
}

// holders maps each VIP to its lease holder.
func holders(l *lab.Lab, vips []string) map[string]string {
	m := map[string]string{}
	for _, v := range vips {
		m[v] = l.Holder(context.Background(), v)
	}
	return m
}

// watchHolders samples the holders every 100 ms for d and describes every
// change from before.
func watchHolders(ctx context.Context, l *lab.Lab, vips []string, before map[string]string, d time.Duration) []string {
	var moved []string
	seen := map[string]bool{}
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, v := range vips {
			// A slow API server may fail a read; only a read that names
			// someone else is a move.
			if h := l.Holder(ctx, v); h != "" && h != before[v] {
				m := fmt.Sprintf("%s moved from %s to %s", v, before[v], h)
				if !seen[m] {
					seen[m] = true
					moved = append(moved, m)
				}
			}
		}
	}
	return moved
}
