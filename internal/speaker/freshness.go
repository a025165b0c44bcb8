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
	mu sync.Mutex
	// stale maps a stale resource to its cache's resourceVersion when it
	// went stale: a cache that has moved on since holds newer data.
	stale map[string]string
	// version returns a resource's cache resourceVersion; nil: unknown.
	version func(resource string) string
	// changed is called (without the lock) when a resource turns stale or
	// fresh: during an outage no informer event wakes the speaker's loop,
	// yet the election must hear at once that this node claims nothing new.
	changed func()
}

// NewFreshness returns a tracker with every resource fresh.
func NewFreshness() *Freshness { return &Freshness{stale: map[string]string{}} }

// markStale records a failed list or watch of resource.
func (f *Freshness) markStale(resource string) {
	f.mu.Lock()
	if _, ok := f.stale[resource]; ok {
		f.mu.Unlock()
		return
	}
	rv := ""
	if f.version != nil {
		rv = f.version(resource)
	}
	f.stale[resource] = rv
	f.mu.Unlock()
	if f.changed != nil {
		f.changed()
	}
}

// markFresh records that resource's cache is current again. It reports
// whether the resource was stale.
func (f *Freshness) markFresh(resource string) bool {
	f.mu.Lock()
	_, was := f.stale[resource]
	delete(f.stale, resource)
	f.mu.Unlock()
	if was && f.changed != nil {
		f.changed()
	}
	return was
}

// Stale lists the stale resources among names, sorted. A resource whose
// cache took in new data since it went stale is fresh again.
func (f *Freshness) Stale(names ...string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range names {
		rv, ok := f.stale[n]
		if !ok {
			continue
		}
		if f.version != nil && f.version(n) != rv {
			delete(f.stale, n)
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// WrapTransport is a rest.Config WrapTransport that watches the informers'
// lists and watches (GETs of a collection, named by the path's last
// element). One that fails, or that the API server refuses as unavailable,
// gone or overloaded, marks the resource stale: client-go retries a refused
// watch with backoff without telling the informer's watch error handler,
// so only the transport sees an outage. One the API server accepts (200)
// marks it fresh: a watch accepted from the last seen resourceVersion
// replays what was missed at once, and an accepted list replaces the cache.
func (f *Freshness) WrapTransport(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if req.Method != http.MethodGet {
			return resp, err
		}
		resource := path.Base(req.URL.Path)
		switch {
		case err != nil:
			f.markStale(resource)
		case resp.StatusCode == http.StatusOK:
			f.markFresh(resource)
		case resp.StatusCode >= 500, resp.StatusCode == http.StatusGone, resp.StatusCode == http.StatusTooManyRequests:
			f.markStale(resource)
		}
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (r roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return r(req) }
