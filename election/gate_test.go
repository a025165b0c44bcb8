package election

import (
	"context"
	"testing"
	"time"
)

// TestWriteGate tables how the bound on VIP writes in flight follows the
// API server's answers: halved by each refusal for overload, down to one,
// raised by one per answered write, up to the maximum.
func TestWriteGate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		max      int
		releases []bool // overloaded, one per write
		want     int
	}{
		{"answered writes keep the maximum", 64, []bool{false, false, false}, 64},
		{"one refusal halves", 64, []bool{true}, 32},
		{"refusals halve down to one", 64, []bool{true, true, true, true, true, true, true, true}, 1},
		{"answers raise it again by one each", 64, []bool{true, true, false, false, false}, 19},
		{"never above the maximum", 4, []bool{true, false, false, false, false, false}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newWriteGate(tc.max)
			for _, o := range tc.releases {
				if err := g.acquire(context.Background()); err != nil {
					t.Fatal(err)
				}
				g.release(o)
			}
			if got := g.current(); got != tc.want {
				t.Errorf("limit %d, want %d", got, tc.want)
			}
		})
	}
}

// TestWriteGateWaits checks that a write waits while the limit is reached
// and goes once a slot frees, and that a cancelled wait gives up.
func TestWriteGateWaits(t *testing.T) {
	g := newWriteGate(2)
	ctx := context.Background()
	for range 2 {
		if err := g.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	g.release(true) // limit 1, one in use: full
	got := make(chan error, 1)
	go func() { got <- g.acquire(ctx) }()
	select {
	case <-got:
		t.Fatal("acquired beyond the limit")
	case <-time.After(20 * time.Millisecond):
	}
	g.release(false) // none in use, limit 2
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a freed slot did not wake the waiting write")
	}
	cctx, cancel := context.WithCancel(ctx)
	if err := g.acquire(ctx); err != nil { // two in use
		t.Fatal(err)
	}
	cancel()
	if err := g.acquire(cctx); err == nil {
		t.Fatal("a cancelled wait acquired a slot beyond the limit")
	}
}
