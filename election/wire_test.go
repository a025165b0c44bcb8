package election

import (
	"testing"
	"time"
)

// TestWireGone tables the wire check's rule: a holder silent on the wire is
// taken at WireLapse after its node lease was last seen to change, or at
// HostLapse when its node's own address was silent too, never earlier, only
// on probes all sent after it missed a renewal (WireSuspect), and only once
// the watch has echoed a renewal of ours sent after that point. With the
// defaults and a change seen at 1 s: suspect from 1.6 s, host lapse at 2 s,
// lapse at 2.5 s.
func TestWireGone(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name      string
		off       bool
		changed   time.Duration // when we saw the holder's lease change
		silent    time.Duration // first unanswered probe; -1: no report
		host      bool          // the node's own address was silent too
		echoSent  time.Duration
		now       time.Duration
		gone      bool
		wantAgain time.Duration
		wantEcho  bool
	}{
		{"no report: the full lapse applies", false, 1000 * ms, -1, false, 2600 * ms, 2600 * ms, false, 0, false},
		{"silent, before the lapse", false, 1000 * ms, 1600 * ms, false, 2400 * ms, 2400 * ms, false, 2500 * ms, false},
		{"silent, at the lapse, echoed after", false, 1000 * ms, 1600 * ms, false, 2550 * ms, 2600 * ms, true, 0, false},
		{"silent, at the lapse, no echo since", false, 1000 * ms, 1600 * ms, false, 2450 * ms, 2600 * ms, false, 0, true},
		{"speaker silent only: the host lapse does not apply", false, 1000 * ms, 1600 * ms, false, 2050 * ms, 2100 * ms, false, 2500 * ms, false},
		{"host silent, before the host lapse", false, 1000 * ms, 1600 * ms, true, 1900 * ms, 1900 * ms, false, 2000 * ms, false},
		{"host silent, at the host lapse, echoed after", false, 1000 * ms, 1600 * ms, true, 2010 * ms, 2020 * ms, true, 0, false},
		{"host silent, at the host lapse, no echo since", false, 1000 * ms, 1600 * ms, true, 1950 * ms, 2020 * ms, false, 0, true},
		{"probes began before the missed renewal", false, 1000 * ms, 1550 * ms, true, 2550 * ms, 2600 * ms, false, 0, false},
		{"report predates a renewal seen since", false, 2000 * ms, 1750 * ms, true, 3600 * ms, 3600 * ms, false, 0, false},
		{"wire check off", true, 1000 * ms, 1750 * ms, true, 2550 * ms, 2600 * ms, false, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCore("n1", Timing{}.WithDefaults())
			c.wireCheck = !tc.off
			c.nodes["n2"] = &nodeState{exists: true, rv: "7", changed: at(tc.changed)}
			c.own.echoSent = at(tc.echoSent)
			if tc.silent >= 0 {
				c.wireSilent("n2", at(tc.silent), tc.host)
			}
			gone, again, echo := c.wireGone("n2", at(tc.now))
			if gone != tc.gone {
				t.Errorf("gone = %v, want %v", gone, tc.gone)
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

// TestWireAliveAndRenewalClearSilence: an answer, or a renewal seen after
// the report, takes the holder back to the full lapse.
func TestWireAliveAndRenewalClearSilence(t *testing.T) {
	c := newCore("n1", Timing{}.WithDefaults())
	c.wireCheck = true
	c.observeNode("n2", &leaseView{rv: "7"}, at(time.Second))
	c.own.echoSent = at(3 * time.Second)
	c.wireSilent("n2", at(1750*time.Millisecond), false)
	if gone, _, _ := c.wireGone("n2", at(2600*time.Millisecond)); !gone {
		t.Fatal("silent holder past the lapse not gone")
	}
	c.wireAlive("n2")
	if gone, _, _ := c.wireGone("n2", at(2600*time.Millisecond)); gone {
		t.Error("holder gone after it answered a probe")
	}
	c.wireSilent("n2", at(1750*time.Millisecond), false)
	c.observeNode("n2", &leaseView{rv: "8"}, at(2700*time.Millisecond))
	if gone, _, _ := c.wireGone("n2", at(4300*time.Millisecond)); gone {
		t.Error("holder gone on a report older than its last renewal")
	}
}

// TestWireCheckPlan runs the plan: the top-ranked live successor, and only
// it, lists the holder as a suspect once it missed a renewal, and claims with
// reason wireSilent at WireLapse once told the holder is silent; without the
// report it waits for the full lapse.
func TestWireCheckPlan(t *testing.T) {
	const ms = time.Millisecond
	nodes := []string{"n1", "n2", "n3"}
	group := "vip-192.0.2.10"
	// setup returns a synced core for node with n3 holding the group, its
	// node lease last seen to change at 1 s, and fresh, echoed renewals of
	// its own.
	setup := func(node string, wire bool, now time.Duration) *core {
		c := newCore(node, Timing{}.WithDefaults())
		c.wireCheck = wire
		c.markSynced(at(0))
		for _, n := range nodes {
			c.observeNode(n, &leaseView{rv: "1" + n}, at(time.Second))
		}
		c.observeVIP(group, &leaseView{rv: "5", holder: "n3"}, at(time.Second))
		c.setGroups([]GroupSpec{{Name: group, Candidate: true, Candidates: nodes}})
		c.own.okOnce, c.own.okSent, c.own.echoSent, c.own.lastSent = true, at(now), at(now), at(now)
		return c
	}
	// Which of n1 and n2 ranks first to succeed n3.
	first, second := "n1", "n2"
	if rankOf("n1", group, []string{"n1", "n2"}) != 0 {
		first, second = "n2", "n1"
	}
	claims := func(ws []write) []write {
		var out []write
		for _, w := range ws {
			if w.kind == writeClaim {
				out = append(out, w)
			}
		}
		return out
	}

	c := setup(first, true, 1500*ms)
	if _, wake := c.plan(at(1500 * ms)); c.suspects != nil || !wake.Equal(at(1600*ms)) {
		t.Errorf("before a missed renewal: suspects %v, wake %v; want none, wake at 1.6s", c.suspects, wake.Sub(t0))
	}
	c = setup(first, true, 1800*ms)
	c.plan(at(1800 * ms))
	if len(c.suspects) != 1 || c.suspects[0].Node != "n3" || c.suspects[0].Group != group {
		t.Errorf("top-ranked successor after a missed renewal: suspects %v, want n3 for %s", c.suspects, group)
	}
	c = setup(second, true, 1800*ms)
	if c.plan(at(1800 * ms)); c.suspects != nil {
		t.Errorf("second-ranked successor: suspects %v, want none (one prober per group)", c.suspects)
	}
	c = setup(first, false, 1800*ms)
	if c.plan(at(1800 * ms)); c.suspects != nil {
		t.Errorf("wire check off: suspects %v, want none", c.suspects)
	}

	c = setup(first, true, 2500*ms)
	c.wireSilent("n3", at(1650*ms), false)
	ws, _ := c.plan(at(2500 * ms))
	if cl := claims(ws); len(cl) != 1 || cl[0].reason != ReasonWireSilent || cl[0].rv != "5" {
		t.Errorf("silent holder at the lapse: claims %+v, want one conditional claim with reason wireSilent", cl)
	}
	c = setup(first, true, 2400*ms)
	c.wireSilent("n3", at(1650*ms), false)
	if ws, wake := c.plan(at(2400 * ms)); len(claims(ws)) != 0 || !wake.Equal(at(2500*ms)) {
		t.Errorf("silent holder before the lapse: claims %+v, wake %v; want none, wake at 2.5s", claims(ws), wake.Sub(t0))
	}
	c = setup(first, true, 2000*ms)
	c.wireSilent("n3", at(1650*ms), true)
	if ws, _ := c.plan(at(2000 * ms)); len(claims(ws)) != 1 || claims(ws)[0].reason != ReasonWireSilent {
		t.Errorf("holder whose node is silent at the host lapse: claims %+v, want one with reason wireSilent", claims(ws))
	}
	c = setup(first, true, 2500*ms)
	if ws, _ := c.plan(at(2500 * ms)); len(claims(ws)) != 0 {
		t.Errorf("no report: claims %+v before the full lapse", claims(ws))
	}
	c = setup(first, false, 2500*ms)
	c.wireSilent("n3", at(1650*ms), false)
	if ws, _ := c.plan(at(2500 * ms)); len(claims(ws)) != 0 {
		t.Errorf("wire check off: claims %+v on a silence report", claims(ws))
	}
}
