package speaker

import (
	"fmt"
	"slices"
	"testing"
)

// TestCandidateListsShare tables the interner: equal lists come back as one
// shared slice, different ones apart, and a list handed in is never kept
// (the caller reuses its buffer).
func TestCandidateListsShare(t *testing.T) {
	same := func(a, b []string) bool { return len(a) > 0 && len(b) > 0 && &a[0] == &b[0] }
	for _, tc := range []struct {
		name   string
		a, b   []string
		shared bool
	}{
		{"equal lists", []string{"n1", "n2"}, []string{"n1", "n2"}, true},
		{"different order", []string{"n1", "n2"}, []string{"n2", "n1"}, false},
		{"one name more", []string{"n1", "n2"}, []string{"n1", "n2", "n3"}, false},
		{"names that join alike", []string{"n1", "n2"}, []string{"n1n2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c candidateLists
			buf := slices.Clone(tc.a)
			a := c.intern(buf)
			buf[0] = "overwritten"
			b := c.intern(slices.Clone(tc.b))
			if !slices.Equal(a, tc.a) || !slices.Equal(b, tc.b) {
				t.Fatalf("got %v and %v, want %v and %v", a, b, tc.a, tc.b)
			}
			if same(a, b) != tc.shared {
				t.Errorf("shared = %v, want %v", same(a, b), tc.shared)
			}
		})
	}
	var c candidateLists
	if c.intern(nil) != nil || c.intern([]string{}) != nil {
		t.Error("an empty list must come back nil")
	}
	// Past the bound it starts afresh and stays correct.
	for i := range maxCandidateLists + 10 {
		l := []string{fmt.Sprint("n", i)}
		if got := c.intern(l); !slices.Equal(got, l) {
			t.Fatalf("intern(%v) = %v", l, got)
		}
	}
	if c.count > maxCandidateLists+1 {
		t.Errorf("keeps %d lists, bound %d", c.count, maxCandidateLists)
	}
}
