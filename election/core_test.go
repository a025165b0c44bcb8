package election

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// TestExpired tables the expiry rule: a holder is expired only when its node
// lease has not been seen to change for a full duration since we resumed
// watching, and the watch has echoed a renewal of ours sent after that.
func TestExpired(t *testing.T) {
	const D = DefaultNodeLeaseDuration
	for _, tc := range []struct {
		name      string
		changed   time.Duration // when we saw the holder's lease change
		resumed   time.Duration
		trouble   time.Duration // troubleFrom (0: unknown)
		echoSent  time.Duration // send time of our newest echoed renewal
		now       time.Duration
		exp       bool
		wantEcho  bool
		wantAgain time.Duration
	}{
		{"renewed recently", 1 * time.Second, 0, 0, 2500 * time.Millisecond, 2500 * time.Millisecond, false, false, 3 * time.Second},
		{"unchanged for the duration, echoed after", 1 * time.Second, 0, 0, 3100 * time.Millisecond, 3200 * time.Millisecond, true, false, 0},
		{"unchanged for the duration, no echo since", 1 * time.Second, 0, 0, 2900 * time.Millisecond, 3200 * time.Millisecond, false, true, 0},
		{"watch resumed recently (outage)", 1 * time.Second, 60 * time.Second, 0, 61 * time.Second, 61 * time.Second, false, false, 62 * time.Second},
		{"watch resumed a duration ago", 1 * time.Second, 60 * time.Second, 0, 62100 * time.Millisecond, 62200 * time.Millisecond, true, false, 0},
		{"renewals resumed; it had lapsed before they failed", 1 * time.Second, 60 * time.Second, 10 * time.Second, 60100 * time.Millisecond, 60200 * time.Millisecond, true, false, 0},
		{"renewals resumed; it lapsed just as they failed", 1 * time.Second, 60 * time.Second, 3 * time.Second, 60100 * time.Millisecond, 60200 * time.Millisecond, true, false, 0},
		{"renewals resumed; it renewed shortly before they failed", 9 * time.Second, 60 * time.Second, 10 * time.Second, 61 * time.Second, 61 * time.Second, false, false, 62 * time.Second},
		{"renewals resumed; lapsed before, but no echo since", 1 * time.Second, 60 * time.Second, 10 * time.Second, 2900 * time.Millisecond, 60200 * time.Millisecond, false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCore("n1", Timing{NodeLeaseDuration: D}.WithDefaults())
			c.resumed = at(tc.resumed)
			if tc.trouble != 0 {
				c.troubleFrom = at(tc.trouble)
			}
			c.nodes["n2"] = &nodeState{exists: true, rv: "7", changed: at(tc.changed)}
			c.own.echoSent = at(tc.echoSent)
			exp, again, echo := c.expired("n2", at(tc.now))
			if exp != tc.exp {
				t.Errorf("expired = %v, want %v", exp, tc.exp)
			}
			if !echo.IsZero() != tc.wantEcho {
				t.Errorf("echoAfter = %v, want an echo demanded: %v", echo, tc.wantEcho)
			}
			if tc.wantAgain != 0 && !again.Equal(at(tc.wantAgain)) {
				t.Errorf("look again at %v, want %v", again.Sub(t0), tc.wantAgain)
			}
		})
	}
}

// TestLive tables who counts for ranking.
func TestLive(t *testing.T) {
	for _, tc := range []struct {
		name    string
		node    *nodeState
		holder  bool
		resumed time.Duration
		now     time.Duration
		live    bool
	}{
		{"holder renewed within the duration", &nodeState{exists: true, changed: at(10 * time.Second)}, true, 0, 11 * time.Second, true},
		{"holder silent for the duration", &nodeState{exists: true, changed: at(10 * time.Second)}, true, 0, 12 * time.Second, false},
		{"idle node renewed 9s ago", &nodeState{exists: true, changed: at(10 * time.Second)}, false, 0, 19 * time.Second, true},
		{"idle node silent for idle+duration", &nodeState{exists: true, changed: at(10 * time.Second)}, false, 0, 22 * time.Second, false},
		{"never seen, cold start", nil, false, 0, 5 * time.Second, true},
		{"never seen, long after start", nil, false, 0, 30 * time.Second, false},
		{"lease deleted", &nodeState{exists: false, changed: at(10 * time.Second)}, false, 0, 11 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCore("n1", Timing{}.WithDefaults())
			c.resumed = at(tc.resumed)
			if tc.node != nil {
				c.nodes["n2"] = tc.node
			}
			holders := map[string]int{}
			if tc.holder {
				holders["n2"] = 1
			}
			if got := c.live("n2", at(tc.now), holders); got != tc.live {
				t.Errorf("live = %v, want %v", got, tc.live)
			}
			if !c.live("n1", at(tc.now), holders) {
				t.Error("a node is always live to itself")
			}
		})
	}
}

// TestRankSpread checks that rendezvous ranking spreads groups evenly and
// that a joining node takes rank 0 only for its fair share.
func TestRankSpread(t *testing.T) {
	nodes := []string{"worker-1", "worker-2", "worker-3", "worker-4", "worker-5"}
	const groups = 5000
	first := map[string]int{}
	moved := 0
	for i := range groups {
		g := fmt.Sprintf("vip-10.0.%d.%d", i/250, i%250)
		var top string
		for _, n := range nodes {
			if rankOf(n, g, nodes) == 0 {
				top = n
			}
		}
		first[top]++
		if rankOf("worker-6", g, append(nodes, "worker-6")) == 0 {
			moved++
		}
	}
	for _, n := range nodes {
		if share := float64(first[n]) / groups; share < 0.17 || share > 0.23 {
			t.Errorf("%s ranks first for %.1f%% of groups, want about 20%%", n, share*100)
		}
	}
	if share := float64(moved) / groups; share < 0.13 || share > 0.20 {
		t.Errorf("a sixth node ranks first for %.1f%% of groups, want about 1/6", share*100)
	}
}

// TestLostIgnoresOurOwnEcho: fencing blocks the group until the lease shows
// news. The watch may deliver the echo of our own claim only after the
// fencing; that echo still names us and must not count as news, or we
// would re-adopt the group a successor has just taken (seen in CI under
// load as "still holding after Lost").
func TestLostIgnoresOurOwnEcho(t *testing.T) {
	tests := []struct {
		name        string
		cacheAfter  *leaseView
		wantBlocked bool
	}{
		{"cache unchanged", &leaseView{rv: "5"}, true},
		{"late echo of our own claim", &leaseView{rv: "6", holder: "n1"}, true},
		{"a successor wrote it", &leaseView{rv: "7", holder: "n2"}, false},
		{"deleted", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCore("n1", Timing{}.WithDefaults())
			v := c.vip("vip-192.0.2.10")
			v.cache = &leaseView{rv: "5"}                            // before our claim's echo
			c.held["vip-192.0.2.10"] = heldGroup{since: t0, rv: "6"} // our claim wrote rv 6
			c.lost("vip-192.0.2.10", t0)
			if _, held := c.held["vip-192.0.2.10"]; held {
				t.Fatal("still held after lost")
			}
			v.cache = tt.cacheAfter
			if got := v.stillBlocked(); got != tt.wantBlocked {
				t.Errorf("blocked = %v, want %v", got, tt.wantBlocked)
			}
		})
	}
}

// TestRenewRetriesAConflictAtOnce: a renewal answered with a conflict goes
// again at once with the version re-read, so our node lease does not stand
// still for a period (nor a takeover's echo wait with it); a conflict in a
// row waits for the period, so two writers of one node lease cannot spin.
func TestRenewRetriesAConflictAtOnce(t *testing.T) {
	const ms = time.Millisecond
	renews := func(ws []write) int { return countWrites(ws, writeRenew) }
	for _, tc := range []struct {
		name     string
		outcomes []outcome // of the renewals before the plan at 10 ms
		want     int       // renewals that plan sends
	}{
		{"after a success: wait for the period", []outcome{outcomeOK}, 0},
		{"after a conflict: at once", []outcome{outcomeOK, outcomeConflict}, 1},
		{"after two conflicts in a row: wait", []outcome{outcomeOK, outcomeConflict, outcomeConflict}, 0},
		{"after a failure: wait (the outage rule)", []outcome{outcomeOK, outcomeFailed}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCore("n1", Timing{}.WithDefaults())
			c.markSynced(at(0))
			c.setGroups(nil)
			for i, out := range tc.outcomes {
				c.own.inflight = true
				c.own.lastSent = at(time.Duration(i) * ms)
				c.done(write{kind: writeRenew, name: NodeLeaseName("n1"), sent: c.own.lastSent}, out, fmt.Sprint(i+1), at(time.Duration(i)*ms))
			}
			ws, _ := c.plan(at(10 * ms))
			if got := renews(ws); got != tc.want {
				t.Errorf("renewals planned at 10 ms: %d, want %d", got, tc.want)
			}
		})
	}
}

// TestLowerRankClaimWaitsForEcho: a free group's second-ranked candidate
// claims only after the watch echoed a renewal of ours sent once its turn
// came, so a watch lagging behind the top-ranked node's Create does not send
// a Create that can only fail; the top-ranked candidate claims at once.
func TestLowerRankClaimWaitsForEcho(t *testing.T) {
	const ms = time.Millisecond
	nodes := []string{"n1", "n2"}
	group := "vip-192.0.2.10"
	first, second := "n1", "n2"
	if rankOf("n1", group, nodes) != 0 {
		first, second = "n2", "n1"
	}
	claims := func(ws []write) int { return countWrites(ws, writeClaim) }
	for _, tc := range []struct {
		name      string
		node      string
		sent      time.Duration // our last renewal, answered
		echoSent  time.Duration // of our newest echoed renewal
		topClaim  bool          // the watch delivered the top-ranked node's lease
		wantClaim bool
		wantRenew bool // a renewal goes out for the echo
	}{
		{"top-ranked: at once", first, 150 * ms, 100 * ms, false, true, false},
		{"second-ranked, its turn came, no echo since", second, 150 * ms, 100 * ms, false, false, true},
		{"second-ranked, renewed since, no echo yet", second, 300 * ms, 150 * ms, false, false, false},
		{"second-ranked, echo since, group still free", second, 300 * ms, 300 * ms, false, true, false},
		{"second-ranked, echo since, with the top-ranked node's claim", second, 300 * ms, 300 * ms, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCore(tc.node, Timing{}.WithDefaults())
			c.markSynced(at(0))
			for _, n := range nodes {
				c.observeNode(n, &leaseView{rv: "1" + n}, at(0))
			}
			c.setGroups([]GroupSpec{{Name: group, Candidate: true, Candidates: nodes}})
			c.own.okOnce, c.own.okSent, c.own.lastSent = true, at(0), at(0)
			// The group is free from 0: the second rank's turn comes at
			// 200 ms; the top rank claims now, or later if asked again.
			ws, _ := c.plan(at(0))
			claimed := claims(ws)
			c.own.inflight = false
			c.own.okSent, c.own.lastSent, c.own.echoSent = at(tc.sent), at(tc.sent), at(tc.echoSent)
			c.touch(group)
			if tc.topClaim {
				c.observeVIP(group, &leaseView{rv: "9", holder: first}, at(300*ms))
			}
			ws, _ = c.plan(at(400 * ms))
			if got := claimed+claims(ws) > 0; got != tc.wantClaim {
				t.Errorf("claims at 400 ms: %v, want %v (writes %+v)", got, tc.wantClaim, ws)
			}
			renewed := countWrites(ws, writeRenew) > 0
			if renewed != tc.wantRenew {
				t.Errorf("renewal at 400 ms: %v, want %v", renewed, tc.wantRenew)
			}
		})
	}
}

// countWrites counts the writes of kind k in ws.
func countWrites(ws []write, k writeKind) (n int) {
	for _, w := range ws {
		if w.kind == k {
			n++
		}
	}
	return n
}
