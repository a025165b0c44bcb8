package election

import (
	"context"
	"sync"
)

// writeGate bounds the VIP lease writes in flight, and adapts the bound to
// the API server: every write the server refuses for overload (429, or no
// answer in time) halves it, down to one; every write it answers raises it
// by one, up to the configured maximum. With 100 speakers each keeping 64
// claims in flight, the API server answered three writes in four with 429
// at a cold start (scale benchmark, 100 × 5,000); retried every 500 ms they
// kept it overloaded, and the node-lease renewals, refused with them, made
// live holders look dead. Renewals do not pass the gate.
type writeGate struct {
	mu         sync.Mutex
	limit, max int
	inUse      int
	// freed is closed (and replaced) whenever a slot may have freed up.
	freed chan struct{}
}

func newWriteGate(max int) *writeGate {
	return &writeGate{limit: max, max: max, freed: make(chan struct{})}
}

// acquire waits for a slot under the current limit, or for ctx.
func (g *writeGate) acquire(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.inUse < g.limit {
			g.inUse++
			g.mu.Unlock()
			return nil
		}
		freed := g.freed
		g.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release frees a slot; overloaded says the API server refused the write
// for overload.
func (g *writeGate) release(overloaded bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inUse--
	switch {
	case overloaded:
		g.limit = max(1, g.limit/2)
	case g.limit < g.max:
		g.limit++
	}
	close(g.freed)
	g.freed = make(chan struct{})
}

// current returns the limit, for metrics and tests.
func (g *writeGate) current() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limit
}
