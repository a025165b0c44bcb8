package speaker

import (
	"slices"
	"time"

	"github.com/leaselb/leaselb/l2"
)

// Link damping: a link that goes down (or stops being usable, or
// disappears) counts as unusable at once, so a holder releases its groups
// the moment it cannot announce them. A link that comes up counts as usable
// only after it has stayed up for a hold-down, which doubles with every
// going-down in the last flapWindow (linkHoldDown, 2×, 4×, ... capped at
// linkHoldDownMax), so a flapping link keeps the node out of candidacy
// instead of making groups bounce. The links usable when the speaker
// starts count at once: a restarted speaker is held back by the election's
// adoption rule instead.
const (
	linkHoldDown    = 2 * time.Second
	linkHoldDownMax = time.Minute
	flapWindow      = 5 * time.Minute
)

// linkDamper applies the damping rule to successive listings of the links.
// It is pure apart from its own state: the time comes from the caller.
type linkDamper struct {
	started bool
	links   map[string]*linkHistory
}

// linkHistory is what the damper remembers of one interface name.
type linkHistory struct {
	present  bool        // in the last listing
	rawUp    bool        // usable in the last listing
	usable   bool        // counts as usable (damped)
	upAt     time.Time   // when it last came up (raw)
	usableAt time.Time   // when it last started to count as usable; zero: since start
	downs    []time.Time // its going-downs within flapWindow
}

// dampedLinks is the damper's answer for one listing.
type dampedLinks struct {
	// links are the listed links with Up cleared for those that do not
	// count as usable yet.
	links []l2.Link
	// held are the links that are up but in their hold-down, sorted.
	held []string
	// returned is, per link that counts as usable after having not, when
	// it started to count (links usable since the start are absent).
	returned map[string]time.Time
	// next is when the next hold-down ends (zero: none is running).
	next time.Time
}

// holdDown is the hold-down of a link that went down n times within
// flapWindow.
func holdDown(n int) time.Duration {
	d := linkHoldDown
	for i := 1; i < n && d < linkHoldDownMax; i++ {
		d *= 2
	}
	return min(d, linkHoldDownMax)
}

// observe takes the links as listed at now and returns them damped.
func (d *linkDamper) observe(now time.Time, listed []l2.Link) dampedLinks {
	if d.links == nil {
		d.links = map[string]*linkHistory{}
	}
	first := !d.started
	d.started = true
	out := dampedLinks{returned: map[string]time.Time{}}
	seen := map[string]bool{}
	for _, l := range listed {
		seen[l.Name] = true
		h := d.links[l.Name]
		if h == nil {
			h = &linkHistory{}
			d.links[l.Name] = h
		}
		h.downs = slices.DeleteFunc(h.downs, func(t time.Time) bool { return now.Sub(t) >= flapWindow })
		up := l.Usable()
		switch {
		case up && first:
			h.usable = true
		case up && !h.rawUp:
			h.upAt = now // came up (or appeared): the hold-down starts
		case !up && h.rawUp:
			h.downs = append(h.downs, now)
		}
		h.present, h.rawUp = true, up
		if !up {
			h.usable = false
		} else if !h.usable {
			if end := h.upAt.Add(holdDown(len(h.downs))); !now.Before(end) {
				h.usable, h.usableAt = true, now
			} else {
				out.held = append(out.held, l.Name)
				if out.next.IsZero() || end.Before(out.next) {
					out.next = end
				}
			}
		}
		if h.usable && !h.usableAt.IsZero() {
			out.returned[l.Name] = h.usableAt
		}
		if !h.usable {
			l.Up = false
		}
		out.links = append(out.links, l)
	}
	for name, h := range d.links {
		if seen[name] {
			continue
		}
		if h.present && h.rawUp {
			h.downs = append(h.downs, now) // gone: a going-down too
		}
		h.present, h.rawUp, h.usable = false, false, false
		h.downs = slices.DeleteFunc(h.downs, func(t time.Time) bool { return now.Sub(t) >= flapWindow })
		if len(h.downs) == 0 {
			delete(d.links, name)
		}
	}
	slices.Sort(out.held)
	return out
}
