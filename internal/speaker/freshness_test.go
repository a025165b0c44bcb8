package speaker

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/leaselb/leaselb/election"
	"github.com/leaselb/leaselb/internal/client/clientset/versioned"
)

func TestFreshnessTransport(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		path      string
		code      int
		wantStale []string
	}{
		{"accepted watch of services", http.MethodGet, "/api/v1/services", 200, []string{"nodes"}},
		{"accepted namespaced list", http.MethodGet, "/apis/leaselb.io/v1alpha1/namespaces/leaselb-system/ipaddresspools", 200, []string{"nodes", "services"}},
		{"refused watch", http.MethodGet, "/api/v1/services", 503, []string{"nodes", "services"}},
		{"a write is no list", http.MethodPost, "/api/v1/services", 200, []string{"nodes", "services"}},
		{"one object is no list", http.MethodGet, "/api/v1/namespaces/default/services/web", 200, []string{"nodes", "services"}},
		{"relist needed", http.MethodGet, "/api/v1/endpointslices", 410, []string{"endpointslices", "nodes", "services"}},
		{"overloaded", http.MethodGet, "/api/v1/endpointslices", 429, []string{"endpointslices", "nodes", "services"}},
		{"a refusal for another reason says nothing", http.MethodGet, "/api/v1/endpointslices", 403, []string{"nodes", "services"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tt.code) }))
			defer srv.Close()
			f := NewFreshness()
			f.markStale("services", errors.New("refused"))
			f.markStale("nodes", errors.New("refused"))
			client := &http.Client{Transport: f.WrapTransport(http.DefaultTransport)}
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path+"?watch=true", nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := f.Stale(groupInputs...); !reflect.DeepEqual(got, tt.wantStale) {
				t.Errorf("stale %v, want %v", got, tt.wantStale)
			}
		})
	}
}

func TestFreshnessRefusedConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	url := srv.URL
	srv.Close() // nothing listens: connection refused, as during an API server outage
	f := NewFreshness()
	woken := 0
	f.changed = func() { woken++ }
	client := &http.Client{Transport: f.WrapTransport(http.DefaultTransport)}
	for range 2 {
		if _, err := client.Get(url + "/api/v1/services?watch=true"); err == nil {
			t.Fatal("GET to a closed server succeeded")
		}
	}
	if got := f.Stale(groupInputs...); !reflect.DeepEqual(got, []string{"services"}) {
		t.Errorf("stale %v after a refused watch, want [services]", got)
	}
	if woken != 1 {
		t.Errorf("loop woken %d times for one turn to stale, want 1", woken)
	}
}

func TestFreshnessNewDataIsFresh(t *testing.T) {
	rv := map[string]string{"services": "10"}
	f := NewFreshness()
	f.version = func(name string) string { return rv[name] }
	f.markStale("services", errors.New("refused"))
	if got := f.Stale("services"); len(got) != 1 {
		t.Fatalf("stale %v, want [services]", got)
	}
	rv["services"] = "11" // the cache took in an event
	if got := f.Stale("services"); len(got) != 0 {
		t.Errorf("stale %v after new data, want none", got)
	}
}

// A speaker whose cache may be out of date keeps what it holds but claims
// nothing new: the group of a Service deleted while its watch was down
// must not be claimed again on the word of that cache.
func TestLoopClaimsNothingOnAStaleView(t *testing.T) {
	h := newHarness(t, false)
	var stale []string
	h.l.cfg.stale = func() []string { return stale }
	h.add(append(baseObjects(), svc("web", "192.0.2.10"), svc("db", "192.0.2.20"))...)
	h.el.hold("vip-192.0.2.10")
	h.step(false)

	stale = []string{"services"}
	h.step(true)
	held, _ := h.el.spec("vip-192.0.2.10")
	free, _ := h.el.spec("vip-192.0.2.20")
	if !held.Candidate {
		t.Errorf("held group lost candidacy on a stale view: %+v", held)
	}
	if free.Candidate || free.Reason != election.Reason(ReasonStaleView) {
		t.Errorf("free group = %+v, want not a candidate with reason %s", free, ReasonStaleView)
	}
	if got := testutil.ToFloat64(h.l.cfg.m.candidacy.WithLabelValues(string(ReasonStaleView))); got != 1 {
		t.Errorf("candidacy{staleView} = %v, want 1", got)
	}
	h.wantAnnounced("vip-192.0.2.10=192.0.2.10@")

	stale = nil
	h.step(true)
	if free, _ := h.el.spec("vip-192.0.2.20"); !free.Candidate {
		t.Errorf("after the caches recovered: %+v, want a candidate", free)
	}
}

// The failures /readyz reports keep their start across retries, take the
// newest error, and end when the cache moves on.
func TestFreshnessFailures(t *testing.T) {
	now := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
	rv := map[string]string{"nodes": "3"}
	f := NewFreshness()
	f.now = func() time.Time { return now }
	f.version = func(name string) string { return rv[name] }
	f.markStale("nodes", errors.New("connection refused"))
	now = now.Add(time.Minute)
	f.markStale("nodes", errors.New("i/o timeout"))
	names, fails := f.failures("services", "nodes")
	if len(names) != 1 || names[0] != "nodes" || !fails[0].since.Equal(now.Add(-time.Minute)) || fails[0].err.Error() != "i/o timeout" {
		t.Fatalf("failures = %v %+v, want nodes since the first failure with the newest error", names, fails)
	}
	rv["nodes"] = "4"
	if names, _ := f.failures("nodes"); len(names) != 0 {
		t.Errorf("failures = %v after the cache moved on, want none", names)
	}
}

// TestInformerNamesAreURLPlurals checks the rule Freshness depends on: each
// informer's name is the last element of the URL path its lists and watches
// use. Every informer runs against an API server that answers 503, and each
// must be reported stale under its own name.
func TestInformerNamesAreURLPlurals(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	fresh := NewFreshness()
	cfg := &rest.Config{Host: srv.URL, WrapTransport: fresh.WrapTransport}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := versioned.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Kube: kube, Leaselb: lb, Namespace: testNS, Node: "a", Freshness: fresh, announcer: newFakeAnnouncer()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		s.leaseInf.Shutdown()
		s.in.Load().retire()
	}()
	s.leaseInf.Start(ctx.Done())
	s.in.Load().run(ctx)
	names := slices.Sorted(slices.Values(append(slices.Collect(maps.Keys(s.in.Load().informers)), resLeases.Resource)))
	if want := slices.Sorted(slices.Values(allResources)); !slices.Equal(names, want) {
		t.Fatalf("informers %v, want %v", names, want)
	}
	for _, n := range names {
		if s.informer(n) == nil {
			t.Errorf("no informer named %s", n)
		}
	}
	eventually(t, "every informer's failing list reported under its name", func() bool {
		return slices.Equal(fresh.Stale(names...), names)
	})
}
