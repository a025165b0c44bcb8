package main

import (
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
)

// requests counts the speaker's own API requests, so the benchmark can
// tell its reads from every other client's: "read" is a GET that is not a
// watch (a poll), "watch" starts a watch, "write" is everything else.
type requests struct {
	mu     sync.Mutex
	counts map[string]int
}

func newRequests() *requests {
	return &requests{counts: map[string]int{"read": 0, "watch": 0, "write": 0}}
}

func (r *requests) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		kind := "write"
		if req.Method == http.MethodGet {
			kind = "read"
			if req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1" {
				kind = "watch"
			}
		}
		r.mu.Lock()
		r.counts[kind]++
		r.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// write puts the counts into path as "kind count" lines.
func (r *requests) write(path string) error {
	r.mu.Lock()
	var lines []string
	for k, v := range r.counts {
		lines = append(lines, fmt.Sprintf("%s %d", k, v))
	}
	r.mu.Unlock()
	sort.Strings(lines)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
