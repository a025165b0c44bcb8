package speaker

import (
	"reflect"
	"testing"
	"time"

	"github.com/leaselb/leaselb/l2"
)

func TestLinkDamping(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	s := time.Second
	type step struct {
		at       time.Duration
		up       map[string]bool // listed links and whether usable; absent: not listed
		usable   []string        // links that count as usable
		held     []string
		returned map[string]time.Duration
		next     time.Duration // -1: none
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"usable at start counts at once", []step{
			{at: 0, up: map[string]bool{"eth0": true, "eth1": false}, usable: []string{"eth0"}, next: -1},
		}},
		{"down at once, back after the hold-down, then revalidation time", []step{
			{at: 0, up: map[string]bool{"eth0": true}, usable: []string{"eth0"}, next: -1},
			{at: 10 * s, up: map[string]bool{"eth0": false}, next: -1},
			{at: 20 * s, up: map[string]bool{"eth0": true}, held: []string{"eth0"}, next: 22 * s},
			{at: 21 * s, up: map[string]bool{"eth0": true}, held: []string{"eth0"}, next: 22 * s},
			{at: 22 * s, up: map[string]bool{"eth0": true}, usable: []string{"eth0"}, returned: map[string]time.Duration{"eth0": 22 * s}, next: -1},
		}},
		{"the hold-down doubles with each flap in the window", []step{
			{at: 0, up: map[string]bool{"eth0": true}, usable: []string{"eth0"}, next: -1},
			{at: 1 * s, up: map[string]bool{"eth0": false}, next: -1},
			{at: 2 * s, up: map[string]bool{"eth0": true}, held: []string{"eth0"}, next: 4 * s},
			{at: 3 * s, up: map[string]bool{"eth0": false}, next: -1},
			{at: 4 * s, up: map[string]bool{"eth0": true}, held: []string{"eth0"}, next: 8 * s},
			{at: 5 * s, up: map[string]bool{"eth0": false}, next: -1},
			{at: 6 * s, up: map[string]bool{"eth0": true}, held: []string{"eth0"}, next: 14 * s},
			{at: 14 * s, up: map[string]bool{"eth0": true}, usable: []string{"eth0"}, returned: map[string]time.Duration{"eth0": 14 * s}, next: -1},
		}},
		{"flaps older than the window are forgiven", []step{
			{at: 0, up: map[string]bool{"eth0": true}, usable: []string{"eth0"}, next: -1},
			{at: 1 * s, up: map[string]bool{"eth0": false}, next: -1},
			{at: 2 * s, up: map[string]bool{"eth0": true}, held: []string{"eth0"}, next: 4 * s},
			{at: 4 * s, up: map[string]bool{"eth0": true}, usable: []string{"eth0"}, returned: map[string]time.Duration{"eth0": 4 * s}, next: -1},
			{at: 10 * time.Minute, up: map[string]bool{"eth0": false}, next: -1},
			{at: 10*time.Minute + s, up: map[string]bool{"eth0": true}, held: []string{"eth0"}, next: 10*time.Minute + 3*s},
		}},
		{"a vanished link is a going-down; it returns with the penalty", []step{
			{at: 0, up: map[string]bool{"eth0": true}, usable: []string{"eth0"}, next: -1},
			{at: 1 * s, up: map[string]bool{}, next: -1},
			{at: 2 * s, up: map[string]bool{"eth0": true}, held: []string{"eth0"}, next: 4 * s},
			{at: 3 * s, up: map[string]bool{}, next: -1},
			{at: 4 * s, up: map[string]bool{"eth0": true}, held: []string{"eth0"}, next: 8 * s},
		}},
		{"a hot-plugged link waits the base hold-down", []step{
			{at: 0, up: map[string]bool{"eth0": true}, usable: []string{"eth0"}, next: -1},
			{at: 5 * s, up: map[string]bool{"eth0": true, "eth1": true}, usable: []string{"eth0"}, held: []string{"eth1"}, next: 7 * s},
		}},
		{"the hold-down is capped", []step{
			{at: 0, up: map[string]bool{"eth0": true}, usable: []string{"eth0"}, next: -1},
			{at: 1 * s, up: map[string]bool{"eth0": false}}, {at: 2 * s, up: map[string]bool{"eth0": true}},
			{at: 3 * s, up: map[string]bool{"eth0": false}}, {at: 4 * s, up: map[string]bool{"eth0": true}},
			{at: 5 * s, up: map[string]bool{"eth0": false}}, {at: 6 * s, up: map[string]bool{"eth0": true}},
			{at: 7 * s, up: map[string]bool{"eth0": false}}, {at: 8 * s, up: map[string]bool{"eth0": true}},
			{at: 9 * s, up: map[string]bool{"eth0": false}}, {at: 10 * s, up: map[string]bool{"eth0": true}},
			{at: 11 * s, up: map[string]bool{"eth0": false}}, {at: 12 * s, up: map[string]bool{"eth0": true}},
			{at: 13 * s, up: map[string]bool{"eth0": false}},
			{at: 14 * s, up: map[string]bool{"eth0": true}, held: []string{"eth0"}, next: 74 * s},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d linkDamper
			for i, st := range tt.steps {
				var listed []l2.Link
				for _, name := range sortedKeys(st.up) {
					listed = append(listed, wlink(name, st.up[name], "192.0.2.1/24"))
				}
				got := d.observe(at(st.at), listed)
				if st.usable == nil && st.held == nil && st.returned == nil && st.next == 0 && i > 0 && i < len(tt.steps)-1 {
					continue // a step that only feeds history
				}
				var usable []string
				for _, l := range got.links {
					if l.Usable() {
						usable = append(usable, l.Name)
					}
				}
				if !reflect.DeepEqual(usable, st.usable) {
					t.Errorf("step %d (t+%v): usable %v, want %v", i, st.at, usable, st.usable)
				}
				if !reflect.DeepEqual(got.held, st.held) {
					t.Errorf("step %d (t+%v): held down %v, want %v", i, st.at, got.held, st.held)
				}
				want := map[string]time.Time{}
				for n, r := range st.returned {
					want[n] = at(r)
				}
				if !reflect.DeepEqual(got.returned, want) {
					t.Errorf("step %d (t+%v): returned %v, want %v", i, st.at, got.returned, want)
				}
				wantNext := time.Time{}
				if st.next > 0 {
					wantNext = at(st.next)
				}
				if !got.next.Equal(wantNext) {
					t.Errorf("step %d (t+%v): next %v, want %v", i, st.at, got.next, wantNext)
				}
			}
		})
	}
}
