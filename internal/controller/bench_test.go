package controller

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/workqueue"
)

// BenchmarkTakeover measures what a new leader does before it is back to
// steady state with 10,000 Services that already have IPs: rebuild the
// allocator from the caches and reconcile every Service (no writes).
func BenchmarkTakeover(b *testing.B) {
	const n = 10000
	objs := []runtime.Object{pool("big", 0, "10.0.0.0/16"), advert("l2")}
	ip := netip.MustParseAddr("10.0.0.0")
	for i := range n {
		objs = append(objs, svc(fmt.Sprintf("s%05d", i), created(i), status(ip.String())))
		ip = ip.Next()
	}
	f := newFakes(objs...)
	c, err := New(Config{Kube: f.kube, Leaselb: f.lb, Namespace: ns, Log: zap.NewNop(), Registerer: prometheus.NewRegistry(), Recorder: &recorder{}})
	if err != nil {
		b.Fatal(err)
	}
	h := &harness{fakes: f, c: c}
	h.refresh()
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[item]())
		c.queue = q
		tm := newTerm(c, q)
		tm.start()
		for q.Len() > 0 {
			tm.processNext(ctx)
		}
		q.ShutDown()
		b.StopTimer()
		c.queue = nil
		h.refresh() // the caches see the status writes of the first pass
		b.StartTimer()
	}
	b.StopTimer()
	if w := f.allWrites(); w > 2 { // the pool and advertisement status, on the first pass
		b.Errorf("takeover wrote %d objects, want at most the pool and advertisement status", w)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/takeover")
}
