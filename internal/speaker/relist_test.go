package speaker

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"

	lbfake "github.com/leaselb/leaselb/internal/client/clientset/versioned/fake"
)

// The API server is back when a request gets an answer after failures: a
// refused connection, a 5xx or a 429 is a failure, any other answer (a 404
// too) is the API server answering. A request its caller cancelled says
// nothing either way.
func TestFreshnessSeesTheAPIServerBack(t *testing.T) {
	refused := errors.New("dial tcp 192.0.2.1:6443: connect: connection refused")
	const cancelled = -1
	tests := []struct {
		name     string
		answers  []any // error, HTTP status, or cancelled
		wantBack int
	}{
		{"always answering", []any{200, 201, 404}, 0},
		{"refused, then answered", []any{refused, refused, 200}, 1},
		{"unavailable, then answered", []any{503, 200}, 1},
		{"overloaded, then answered", []any{429, 200}, 1},
		{"refused, then not found is an answer", []any{refused, 404}, 1},
		{"back once per outage", []any{refused, 200, 200, refused, 500, 200}, 2},
		{"a cancelled request is no outage", []any{cancelled, 200}, 0},
		{"a cancelled request is no return", []any{refused, cancelled, refused, 200}, 1},
		{"still failing", []any{refused, 503, 429}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFreshness()
			back := 0
			f.back = func() { back++ }
			i := 0
			rt := f.WrapTransport(roundTripper(func(req *http.Request) (*http.Response, error) {
				a := tt.answers[i]
				switch a := a.(type) {
				case error:
					return nil, a
				case int:
					if a == cancelled {
						return nil, req.Context().Err()
					}
					return &http.Response{StatusCode: a, Body: http.NoBody}, nil
				}
				panic("bad answer")
			}))
			for i = range tt.answers {
				ctx, cancel := context.WithCancel(context.Background())
				if tt.answers[i] == cancelled {
					cancel()
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPut, "https://api/apis/coordination.k8s.io/v1/namespaces/x/leases/node-a", nil)
				_, _ = rt.RoundTrip(req)
				cancel()
			}
			if back != tt.wantBack {
				t.Errorf("back called %d times, want %d", back, tt.wantBack)
			}
		})
	}
}

// One rule decides when the group inputs are listed anew: the API server
// is back while some are stale; a re-list under way is restarted only when
// it has taken longer than relistRetry; the loop reads a generation only
// once it has synced, and never one a later re-list replaced.
func TestRelisterRule(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		pending     []string      // a re-list under way of these (nil: none)
		pendingAge  time.Duration // how long it has been under way
		stale       []string
		wantStarted []string // what a new generation re-lists (nil: none started)
		wantRetired bool     // the re-list under way was stopped
	}{
		{name: "nothing stale: nothing to re-list"},
		{name: "stale inputs are re-listed", stale: []string{"nodes", "services"}, wantStarted: []string{"nodes", "services"}},
		{name: "a re-list under way is left alone", pending: []string{"services"}, pendingAge: time.Second,
			stale: []string{"services"}},
		{name: "a re-list under way too long starts anew", pending: []string{"services"}, pendingAge: relistRetry,
			stale: []string{"nodes"}, wantStarted: []string{"nodes", "services"}, wantRetired: true},
		{name: "nothing stale leaves a re-list under way alone", pending: []string{"services"}, pendingAge: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := testingclock.NewFakeClock(t0)
			m, err := newMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			var started [][]string
			r := relister{log: zaptest.NewLogger(t), clock: clk, m: m, every: relistRetry,
				start: func(relisting []string) *inputs {
					started = append(started, relisting)
					return &inputs{relisting: relisting, started: clk.Now()}
				}}
			var old *inputs
			if tt.pending != nil {
				old = &inputs{relisting: tt.pending, started: t0.Add(-tt.pendingAge)}
				r.pending = old
			}
			r.onBack(slices.Clone(tt.stale))
			switch {
			case tt.wantStarted == nil && len(started) > 0:
				t.Errorf("started a re-list of %v, want none", started[0])
			case tt.wantStarted != nil && (len(started) != 1 || !slices.Equal(started[0], tt.wantStarted)):
				t.Errorf("started %v, want one re-list of %v", started, tt.wantStarted)
			}
			if got := testutil.ToFloat64(m.relists); got != float64(len(started)) {
				t.Errorf("relists metric %v, want %d", got, len(started))
			}
			if old != nil && old.retired.Load() != tt.wantRetired {
				t.Errorf("re-list under way retired: %v, want %v", old.retired.Load(), tt.wantRetired)
			}
			// The loop reads the generation under way once synced, never
			// one that was replaced.
			if old != nil && tt.wantRetired && r.onSynced(old) {
				t.Error("a replaced re-list was swapped in")
			}
			if p := r.pending; p != nil {
				if !r.onSynced(p) {
					t.Error("the re-list under way was not swapped in once synced")
				}
				if r.pending != nil || r.onSynced(p) {
					t.Error("a re-list swapped in twice")
				}
			}
		})
	}
}

// While a re-list is under way, what it re-lists counts as stale even once
// Freshness has seen its list accepted: the loop still reads the old
// caches, and must claim nothing on their word.
func TestStaleWhileRelisting(t *testing.T) {
	kube := fake.NewSimpleClientset() //nolint:staticcheck // NewClientset's field manager is not needed here
	lb := lbfake.NewSimpleClientset() //nolint:staticcheck // generated fake offers only this
	s, err := New(Config{Kube: kube, Leaselb: lb, Namespace: testNS, Node: "a", announcer: newFakeAnnouncer()})
	if err != nil {
		t.Fatal(err)
	}
	s.fresh.markStale("nodes", errors.New("refused"))
	if got := s.staleResources(); !slices.Equal(got, []string{"nodes"}) {
		t.Fatalf("stale %v, want [nodes]", got)
	}
	s.relist.pending = &inputs{relisting: []string{"nodes", "services"}, started: time.Now()}
	s.fresh.markFresh("nodes") // the new generation's list was accepted
	if got := s.staleResources(); !slices.Equal(got, []string{"nodes", "services"}) {
		t.Errorf("stale %v while re-listing, want [nodes services]", got)
	}
	s.relist.pending = nil
	if got := s.staleResources(); len(got) != 0 {
		t.Errorf("stale %v after the swap, want none", got)
	}
}

// apiOutage makes a fake clientset's lists and watches fail while down,
// and ends the watches under way when it goes down, as a real outage does.
type apiOutage struct {
	down    atomic.Bool
	mu      sync.Mutex
	watches []watch.Interface
}

func (o *apiOutage) install(c *k8stesting.Fake, tracker k8stesting.ObjectTracker) {
	refused := errors.New("connection refused")
	c.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		if o.down.Load() {
			return true, nil, refused
		}
		return false, nil, nil
	})
	c.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		if o.down.Load() {
			return true, nil, refused
		}
		w, err := tracker.Watch(a.GetResource(), a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		o.mu.Lock()
		o.watches = append(o.watches, w)
		o.mu.Unlock()
		return true, w, nil
	})
}

func (o *apiOutage) start() {
	o.down.Store(true)
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.watches {
		w.Stop()
	}
	o.watches = nil
}

// A Service deleted while the API server was away stops being announced
// at once when the API server answers again, not after the informers'
// backoff (seconds here, up to a minute after a long outage).
func TestSpeakerRelistsWhenTheAPIServerIsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real speaker on the real clock through an outage of several seconds")
	}
	const gone, kept = "vip-192.0.2.10", "vip-192.0.2.11"
	kube := fake.NewSimpleClientset(node("a"), svc("gone", "192.0.2.10"), svc("kept", "192.0.2.11")) //nolint:staticcheck // as above
	conditionalLeases(kube)
	lb := lbfake.NewSimpleClientset(pool("lan", "192.0.2.0/24"), advert("l2")) //nolint:staticcheck // as above
	// Lists and watches fail (the Lease informer's too); the election's
	// writes still get through, so it keeps the groups it holds.
	var outage apiOutage
	outage.install(&kube.Fake, kube.Tracker())
	var lbOutage apiOutage
	lbOutage.install(&lb.Fake, lb.Tracker())
	r := startSpeaker(t, kube, lb, "a", "02:00:00:00:00:0a")
	eventually(t, "both groups announced", func() bool { return r.announces(gone) && r.announces(kept) })

	outage.start()
	lbOutage.start()
	if err := kube.Tracker().Delete(resServices, "default", "gone"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Service cache reported stale", func() bool { return slices.Contains(r.s.fresh.Stale(groupInputs...), "services") })
	// Long enough that the informers back off for seconds.
	const outageFor = 6 * time.Second
	time.Sleep(outageFor)
	if !r.announces(gone) {
		t.Fatal("the deleted Service's group was dropped during the outage: the informers saw the deletion without the API server")
	}
	outage.down.Store(false)
	lbOutage.down.Store(false)
	// The transport sees a renewal fail, then one get through.
	rt := r.s.fresh.WrapTransport(roundTripper(func(*http.Request) (*http.Response, error) {
		if outage.down.Load() {
			return nil, errors.New("connection refused")
		}
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	}))
	outage.down.Store(true)
	req, _ := http.NewRequest(http.MethodPut, "https://api/apis/coordination.k8s.io/v1/namespaces/leaselb-system/leases/node-a", nil)
	_, _ = rt.RoundTrip(req)
	outage.down.Store(false)
	back := time.Now()
	_, _ = rt.RoundTrip(req)

	// Every input current again, not only the Services: a node whose view
	// is stale claims nothing.
	current := func() bool { return !r.announces(gone) && len(r.s.fresh.Stale(groupInputs...)) == 0 }
	deadline := back.Add(2 * time.Second)
	for !current() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(back)
	if !current() {
		t.Fatalf("%v after the API server was back (after a %v outage): deleted Service's group announced %v, stale caches %v",
			took.Round(time.Millisecond), outageFor, r.announces(gone), r.s.fresh.Stale(groupInputs...))
	}
	t.Logf("the deleted Service's group stopped and every cache was current %v after the API server was back", took.Round(time.Millisecond))
	if !r.announces(kept) {
		t.Error("the other group stopped being announced")
	}
	if got := testutil.ToFloat64(r.s.relist.m.relists); got != 1 {
		t.Errorf("relists %v, want 1", got)
	}
}
