package election

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/client-go/util/flowcontrol"
)

// BenchmarkThousandGroups measures, in real time, how long one node takes to
// claim 1,000 free groups and to release them on shutdown, with the
// client-side rate limiter the REST client would apply for a given
// --kube-api-qps/--kube-api-burst. The fake API answers at once, so the
// figures are the limiter's and the Elector's share of the work, not the
// API server's.
func BenchmarkThousandGroups(b *testing.B) {
	for _, lim := range []struct {
		qps   float32
		burst int
	}{{100, 200}, {200, 500}, {500, 1000}} {
		b.Run(fmt.Sprintf("qps=%v,burst=%d", lim.qps, lim.burst), func(b *testing.B) {
			var claim, release time.Duration
			for range b.N {
				api := newFakeAPI()
				rl := flowcontrol.NewTokenBucketRateLimiter(lim.qps, lim.burst)
				api.before = func(string, string) error { rl.Accept(); return nil }
				r := newRig(b, api)
				groups := make([]GroupSpec, 1000)
				for i := range groups {
					groups[i] = spec(fmt.Sprintf("vip-10.%d.%d.1", i/250, i%250), true, me)
				}
				start := time.Now()
				r.e.SetGroups(groups)
				for len(r.e.Held()) < len(groups) {
					r.tick()
				}
				claim += time.Since(start)
				// SIGTERM comes long after the claims: let the bucket fill.
				time.Sleep(time.Duration(float64(lim.burst) / float64(lim.qps) * float64(time.Second)))
				start = time.Now()
				r.stop()
				release += time.Since(start)
				released := 0
				for _, g := range groups {
					if api.holder(g.Name) == "" {
						released++
					}
				}
				if released != len(groups) {
					b.Logf("released %d of %d groups within the shutdown budget", released, len(groups))
				}
			}
			b.ReportMetric(claim.Seconds()/float64(b.N), "s/claim-1000")
			b.ReportMetric(release.Seconds()/float64(b.N), "s/release-1000")
		})
	}
}
