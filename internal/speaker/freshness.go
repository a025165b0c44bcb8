package speaker

import (
	"net/http"
	"path"
	"sort"
	"sync"
)

// Freshness tracks, per watched resource, whether this speaker's cache may
// be out of date: from a failed list or watch until the API server next
// accepts a list or watch of that resource, or the cache takes in new data.
//
// It exists because client-go's reflectors back off for up to a minute
// after an API server outage, one informer at a time: a speaker whose Lease
// watch is back but whose Service watch still sleeps would otherwise claim
// the groups of Services deleted meanwhile and answer ARP for IPs nobody
// owns. While a resource that defines groups or candidacy is stale, the
// speaker keeps what it holds but claims nothing new.
type Freshness struct {
	mu    sync.Mutex
	stale map[string]bool
}

// NewFreshness returns a tracker with every resource fresh.
func NewFreshness() *Freshness { return &Freshness{stale: map[string]bool{}} }

// markStale records a failed list or watch of resource.
func (f *Freshness) markStale(resource string) {
	f.mu.Lock()
	f.stale[resource] = true
	f.mu.Unlock()
}

// markFresh records that resource's cache is current again. It reports
// whether the resource was stale.
func (f *Freshness) markFresh(resource string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	was := f.stale[resource]
	delete(f.stale, resource)
	return was
}

// Stale lists the stale resources among names, sorted.
func (f *Freshness) Stale(names ...string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range names {
		if f.stale[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// WrapTransport is a rest.Config WrapTransport: every list or watch the API
// server accepts (a GET of a collection answered 200) marks that resource
// fresh. A watch accepted from the last seen resourceVersion replays what
// was missed at once, and an accepted list replaces the cache, so from then
// on the cache is as current as a healthy one.
func (f *Freshness) WrapTransport(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err == nil && req.Method == http.MethodGet && resp.StatusCode == http.StatusOK {
			f.markFresh(path.Base(req.URL.Path))
		}
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (r roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return r(req) }
