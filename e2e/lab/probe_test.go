package lab

import (
	"errors"
	"testing"
	"time"
)

func TestLongestWait(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	ok := func(at, done int) Sample { return Sample{At: ms(at), Done: ms(done), From: "p"} }
	bad := func(at, done int) Sample { return Sample{At: ms(at), Done: ms(done), Err: errors.New("timeout")} }
	for _, tc := range []struct {
		name    string
		samples []Sample
		want    time.Duration
		wantAt  time.Time
	}{
		{"no samples", nil, 0, time.Time{}},
		{"steady: each request's own latency", []Sample{ok(0, 5), ok(20, 27), ok(40, 45)}, 7 * time.Millisecond, ms(20)},
		{"failures wait for the next success", []Sample{ok(0, 5), bad(20, 1020), bad(40, 1040), ok(60, 300), ok(80, 85)}, 65 * time.Millisecond, ms(20)},
		{"a hanging request waits for a later, faster one", []Sample{ok(0, 500), ok(20, 25)}, 25 * time.Millisecond, ms(0)},
		{"a pause of the prober is not an outage", []Sample{ok(0, 5), ok(400, 405)}, 5 * time.Millisecond, ms(0)},
		{"outage across many failures", []Sample{bad(0, 1000), bad(20, 1020), ok(900, 910)}, 910 * time.Millisecond, ms(0)},
		{"failures after the last success are not counted", []Sample{ok(0, 5), bad(20, 1020)}, 5 * time.Millisecond, ms(0)},
		{"unordered input", []Sample{ok(80, 85), bad(20, 1020), ok(0, 5), ok(60, 300), bad(40, 1040)}, 65 * time.Millisecond, ms(20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, at := LongestWait(tc.samples)
			if got != tc.want || !at.Equal(tc.wantAt) {
				t.Errorf("LongestWait = %s at %s, want %s at %s", got, at.Format(time.StampMilli), tc.want, tc.wantAt.Format(time.StampMilli))
			}
		})
	}
}
