package lab

import (
	"errors"
	"testing"
	"time"
)

func TestLongestOutage(t *testing.T) {
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
		{"one success", []Sample{ok(0, 5)}, 0, time.Time{}},
		{"steady", []Sample{ok(0, 5), ok(20, 25), ok(40, 45)}, 20 * time.Millisecond, ms(5)},
		{"failures in between count as waiting", []Sample{ok(0, 5), bad(20, 1020), bad(40, 1040), ok(60, 300), ok(80, 85)}, 215 * time.Millisecond, ms(85)},
		{"ordered by completion, not by start", []Sample{ok(0, 500), ok(20, 25), ok(40, 45)}, 455 * time.Millisecond, ms(45)},
		{"leading failures do not count", []Sample{bad(0, 1000), ok(20, 1100), ok(40, 1120)}, 20 * time.Millisecond, ms(1100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, at := LongestOutage(tc.samples)
			if got != tc.want || !at.Equal(tc.wantAt) {
				t.Errorf("LongestOutage = %s at %s, want %s at %s", got, at.Format(time.StampMilli), tc.want, tc.wantAt.Format(time.StampMilli))
			}
		})
	}
}
