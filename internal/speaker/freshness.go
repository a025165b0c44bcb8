package speaker

import (
	"fmt"
	"net/http"
	"path"
	"sort"
	"sync"
	"time"
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
	// stale holds the resources whose last list or watch failed.
	stale map[string]*failure
	// version returns a resource's cache resourceVersion; nil: unknown.
	version func(resource string) string
	// now tells when a failure began; nil: the real clock.
	now func() time.Time
	// changed is called (without the lock) when a resource turns stale or
	// fresh: during an outage no informer event wakes the speaker's loop,
	// yet the election must hear at once that this node claims nothing new.
	changed func()

	// down: a request failed to reach the API server since it last
	// answered one.
	down bool
	// back is called (without the lock) when the API server answers a
	// request after failing: the reflectors of the stale resources may
	// sleep in their backoff for up to a minute more, so the speaker
	// re-lists them (relist.go).
	back func()
}

// failure is a resource's ongoing list/watch failure.
type failure struct {
	since time.Time
	err   error
	// rv is the cache's resourceVersion when it failed: a cache that has
	// moved on since holds newer data.
	rv string
}

// NewFreshness returns a tracker with every resource fresh.
func NewFreshness() *Freshness { return &Freshness{stale: map[string]*failure{}} }

// markStale records a failed list or watch of resource; a failure already
// under way keeps its start and takes the newest error.
func (f *Freshness) markStale(resource string, err error) {
	f.mu.Lock()
	if fl := f.stale[resource]; fl != nil {
		fl.err = err
		f.mu.Unlock()
		return
	}
	fl := &failure{since: time.Now(), err: err}
	if f.now != nil {
		fl.since = f.now()
	}
	if f.version != nil {
		fl.rv = f.version(resource)
	}
	f.stale[resource] = fl
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

// freshSince records that the named resources' caches hold a list the API
// server accepted at t: failures that began before t are over.
func (f *Freshness) freshSince(t time.Time, names ...string) {
	f.mu.Lock()
	changed := false
	for _, n := range names {
		if fl := f.stale[n]; fl != nil && fl.since.Before(t) {
			delete(f.stale, n)
			changed = true
		}
	}
	f.mu.Unlock()
	if changed && f.changed != nil {
		f.changed()
	}
}

// reached records whether a request reached the API server (an answer
// that is not an outage's: no 5xx, no 429), and calls back on the first
// answer after failures.
func (f *Freshness) reached(ok bool) {
	f.mu.Lock()
	wasDown := f.down
	f.down = !ok
	f.mu.Unlock()
	if ok && wasDown && f.back != nil {
		f.back()
	}
}

// failures returns the ongoing failures among names, sorted by name. A
// resource whose cache took in new data since it failed is fresh again.
func (f *Freshness) failures(names ...string) (out []string, of []failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	for _, n := range sorted {
		fl := f.stale[n]
		if fl == nil {
			continue
		}
		if f.version != nil && f.version(n) != fl.rv {
			delete(f.stale, n)
			continue
		}
		out, of = append(out, n), append(of, *fl)
	}
	return out, of
}

// Stale lists the stale resources among names, sorted.
func (f *Freshness) Stale(names ...string) []string {
	out, _ := f.failures(names...)
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
//
// Every request, of any method, also tells whether the API server answers
// at all; the first answer after failures calls back. A request its caller
// cancelled says nothing about the API server (an informer being stopped,
// say) and is not counted.
func (f *Freshness) WrapTransport(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if req.Context().Err() != nil {
			return resp, err
		}
		f.reached(err == nil && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests)
		if req.Method != http.MethodGet {
			return resp, err
		}
		resource := path.Base(req.URL.Path)
		switch {
		case err != nil:
			f.markStale(resource, err)
		case resp.StatusCode == http.StatusOK:
			f.markFresh(resource)
		case resp.StatusCode >= 500, resp.StatusCode == http.StatusGone, resp.StatusCode == http.StatusTooManyRequests:
			f.markStale(resource, fmt.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status))
		}
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (r roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return r(req) }
