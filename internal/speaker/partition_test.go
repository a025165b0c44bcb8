package speaker

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	lbfake "github.com/leaselb/leaselb/internal/client/clientset/versioned/fake"
	"github.com/leaselb/leaselb/l2"
)

// link is one speaker's connection to the shared fake API server; cutting
// it fails every request and silences every open watch, as a network
// partition between the node and the API server does.
type link struct{ cut atomic.Bool }

// through returns a clientset that reaches shared through l.
func (l *link) through(shared *fake.Clientset) *fake.Clientset {
	c := &fake.Clientset{}
	c.AddReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if l.cut.Load() {
			return true, nil, errors.New("dial tcp 192.0.2.2:6443: i/o timeout")
		}
		obj, err := shared.Invokes(a, nil)
		return true, obj, err
	})
	c.AddWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		if l.cut.Load() {
			return true, nil, errors.New("dial tcp 192.0.2.2:6443: i/o timeout")
		}
		w, err := shared.InvokesWatch(a)
		if err != nil {
			return true, nil, err
		}
		return true, l.gate(w), nil
	})
	return c
}

// gate forwards w's events until the link is cut, then drops them: the
// watch stays open but nothing arrives.
func (l *link) gate(w watch.Interface) watch.Interface {
	g := &gated{w: w, out: make(chan watch.Event), stop: make(chan struct{})}
	go func() {
		defer close(g.out)
		for ev := range w.ResultChan() {
			if l.cut.Load() {
				continue
			}
			select {
			case g.out <- ev:
			case <-g.stop:
				return
			}
		}
	}()
	return g
}

type gated struct {
	w    watch.Interface
	out  chan watch.Event
	stop chan struct{}
	once sync.Once
}

func (g *gated) ResultChan() <-chan watch.Event { return g.out }
func (g *gated) Stop() {
	g.once.Do(func() { close(g.stop); g.w.Stop() })
}

// TestHolderCutFromAPIServerIsFencedOnTheWire: the holder loses the API
// server (requests fail, watches go silent). It keeps announcing — it cannot
// know — until the successor, which took the lease over after the node-lease
// duration, is seen announcing on the wire; then it stops at once.
func TestHolderCutFromAPIServerIsFencedOnTheWire(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real speakers on the real clock for a few seconds")
	}
	const group = "vip-192.0.2.10"
	api := fake.NewSimpleClientset(node("a"), node("b"), svc("web", "192.0.2.10")) //nolint:staticcheck // as above
	conditionalLeases(api)
	lb := lbfake.NewSimpleClientset(pool("lan", "192.0.2.0/24"), advert("l2")) //nolint:staticcheck // as above
	links := map[string]*link{"a": {}, "b": {}}
	a := startSpeaker(t, links["a"].through(api), lb, "a", "02:00:00:00:00:0a")
	b := startSpeaker(t, links["b"].through(api), lb, "b", "02:00:00:00:00:0b")
	byName := map[string]*running{"a": a, "b": b}
	eventually(t, "one node holds and announces the group", func() bool {
		h := leaseHolder(api, group)
		return h != "" && byName[h].announces(group)
	})
	old := byName[leaseHolder(api, group)]
	successor := a
	if old == a {
		successor = b
	}

	links[old.name].cut.Store(true)
	cutAt := time.Now()
	eventually(t, "the successor takes the lease and announces", func() bool {
		return leaseHolder(api, group) == successor.name && successor.announces(group)
	})
	t.Logf("%s holds %s %v after %s was cut", successor.name, group, time.Since(cutAt).Round(time.Millisecond), old.name)
	if !old.announces(group) {
		t.Fatalf("%s stopped announcing without seeing the successor: it cannot know it lost the lease", old.name)
	}

	// The successor's gratuitous ARP reaches the old holder.
	mac := successor.an.MACs()[0]
	old.an.claims <- l2.Claim{IP: addrs("192.0.2.10")[0], MAC: mac, Interface: "eth0"}
	eventually(t, "the old holder stops announcing", func() bool { return !old.announces(group) })
	if v := testutil.ToFloat64(old.s.loop.cfg.m.wireClaims.WithLabelValues("successor")); v != 1 {
		t.Errorf("old holder wire_claims{successor} = %v", v)
	}
	if !successor.announces(group) {
		t.Errorf("the successor stopped announcing")
	}
}
