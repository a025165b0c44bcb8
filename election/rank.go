package election

import (
	"hash/fnv"
	"sort"
)

// score is the rendezvous (highest random weight) hash of a node for a
// group. Every speaker computes the same scores without talking to the
// others, so the candidates agree on who should claim a free group first and
// the groups spread evenly over the nodes.
func score(node, group string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(node))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(group))
	// FNV alone clusters for names that differ in their last bytes
	// (node-1, node-2); the splitmix64 finaliser spreads them.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// rankOf returns the position of node among nodes ordered by descending
// score for group (0 = first to claim). node must be in nodes.
func rankOf(node, group string, nodes []string) int {
	ordered := append([]string(nil), nodes...)
	sort.Slice(ordered, func(i, j int) bool {
		si, sj := score(ordered[i], group), score(ordered[j], group)
		if si != sj {
			return si > sj
		}
		return ordered[i] < ordered[j]
	})
	for i, n := range ordered {
		if n == node {
			return i
		}
	}
	return len(ordered)
}
