package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

var fromRE = regexp.MustCompile(`From=(\S+)`)

// HTTPGet fetches http://ip:port/ from the client namespace and returns the
// node that answered (the From= field of the kube-proxy stand-in).
func (l *Lab) HTTPGet(ctx context.Context, ip string, port int, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := &http.Transport{DialContext: DialerIn(l.Hosts["client"].NS), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	url := "http://" + net.JoinHostPort(ip, strconv.Itoa(port)) + "/"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return "", err
	}
	m := fromRE.FindSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("GET %s: no From= in %q", url, body)
	}
	return string(m[1]), nil
}

// Curl runs the real curl in the client namespace, as the walkthrough does.
func (l *Lab) Curl(ctx context.Context, ip string, port int) (string, error) {
	return NetnsExec(ctx, l.Hosts["client"].NS, "curl", "-sS", "--max-time", "5", "http://"+net.JoinHostPort(ip, strconv.Itoa(port))+"/")
}

var macRE = regexp.MustCompile(`(?i)([0-9a-f]{2}(:[0-9a-f]{2}){5})`)

// ARPMACs sends ARP requests for ip from the client (iputils arping) and
// returns every distinct MAC that answered, in lower case.
func (l *Lab) ARPMACs(ctx context.Context, ip string, count int) ([]string, error) {
	out, err := NetnsExec(ctx, l.Hosts["client"].NS, "arping", "-I", "eth0", "-c", strconv.Itoa(count), "-w", strconv.Itoa(count+1), ip)
	macs := distinctMACs(out, "reply from")
	if err != nil && len(macs) == 0 && !strings.Contains(out, "Received 0") {
		return nil, err
	}
	return macs, nil
}

// NDPMACs sends Neighbor Solicitations for ip from the client (ndisc6 -m)
// and returns every distinct target link-layer address advertised.
func (l *Lab) NDPMACs(ctx context.Context, ip string) ([]string, error) {
	out, _ := NetnsExec(ctx, l.Hosts["client"].NS, "ndisc6", "-m", "-n", "-r", "2", "-w", "1000", ip, "eth0")
	return distinctMACs(out, "link-layer address"), nil
}

func distinctMACs(out, marker string) []string {
	seen := map[string]bool{}
	var macs []string
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, marker) {
			continue
		}
		if m := macRE.FindString(line); m != "" {
			m = strings.ToLower(m)
			if !seen[m] {
				seen[m] = true
				macs = append(macs, m)
			}
		}
	}
	sort.Strings(macs)
	return macs
}

// NeighMAC is the MAC the client's kernel has in its neighbour table for ip
// ("" when none).
func (l *Lab) NeighMAC(ctx context.Context, ip string) string {
	out, _ := run(ctx, "ip", "-n", l.Hosts["client"].NS, "neigh", "show", ip)
	if i := strings.Index(out, "lladdr "); i >= 0 {
		if f := strings.Fields(out[i+len("lladdr "):]); len(f) > 0 {
			return strings.ToLower(f[0])
		}
	}
	return ""
}

// FlushNeigh empties the client's neighbour table for ip, so the next
// packet asks the network afresh.
func (l *Lab) FlushNeigh(ctx context.Context, ip string) {
	_, _ = run(ctx, "ip", "-n", l.Hosts["client"].NS, "neigh", "flush", "to", ip)
}

// NodeByMAC names the lab host whose eth0 has the MAC ("" when none does).
func (l *Lab) NodeByMAC(mac string) string {
	for _, h := range l.Hosts {
		if strings.EqualFold(h.MAC, mac) {
			return h.Name
		}
	}
	return ""
}

// A Sample is one probe of a VIP from the client.
type Sample struct {
	// At is when the probe started; Done when it ended.
	At, Done time.Time
	// From is the node that answered, "" on error.
	From string
	Err  error
}

// A Probe fetches a VIP from the client at a fixed interval, each request in
// its own goroutine so one slow request does not delay the next.
type Probe struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	samples []Sample
}

// StartProbe probes http://ip:port/ every interval, each request with the
// given timeout, until Stop.
func (l *Lab) StartProbe(ip string, port int, interval, timeout time.Duration) *Probe {
	p := &Probe{stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				s := Sample{At: time.Now()}
				s.From, s.Err = l.HTTPGet(context.Background(), ip, port, timeout)
				s.Done = time.Now()
				p.mu.Lock()
				p.samples = append(p.samples, s)
				p.mu.Unlock()
			}()
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// Stop ends the probe and returns the samples ordered by start time.
func (p *Probe) Stop() []Sample {
	close(p.stop)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	sort.Slice(p.samples, func(i, j int) bool { return p.samples[i].At.Before(p.samples[j].At) })
	return p.samples
}

// Samples returns a copy of the samples so far (unordered).
func (p *Probe) Samples() []Sample {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Sample(nil), p.samples...)
}

// Gap measures a failover from samples: the time from failedAt to the end
// of the first successful probe, started after failedAt, answered by a node
// other than old. ok is false when no such probe exists.
func Gap(samples []Sample, failedAt time.Time, old string) (gap time.Duration, successor string, ok bool) {
	for _, s := range samples {
		if s.At.Before(failedAt) || s.Err != nil || s.From == old || s.From == "" {
			continue
		}
		return s.Done.Sub(failedAt), s.From, true
	}
	return 0, "", false
}

// Answerers counts, per node, the successful samples that started within
// [from, to).
func Answerers(samples []Sample, from, to time.Time) map[string]int {
	m := map[string]int{}
	for _, s := range samples {
		if s.Err == nil && !s.At.Before(from) && s.At.Before(to) {
			m[s.From]++
		}
	}
	return m
}

// WaitHolder waits until the VIP lease of ip's group has a holder other
// than not ("" for any) and returns it.
func (l *Lab) WaitHolder(ctx context.Context, ip, not string, timeout time.Duration) (string, error) {
	var h string
	err := Eventually(ctx, timeout, 100*time.Millisecond, func() (bool, string) {
		h = l.Holder(ctx, ip)
		return h != "" && h != not, fmt.Sprintf("lease %s holder %q (want one other than %q)", GroupName(ip), h, not)
	})
	return h, err
}

// MACsFor asks the network who has ip and returns every MAC that answered:
// a raw ARP socket for IPv4 (every reply, not the first), ndisc6 -m for
// IPv6.
func (l *Lab) MACsFor(ctx context.Context, w *ARPWatcher, ip string) []string {
	if strings.Contains(ip, ":") {
		m, _ := l.NDPMACs(ctx, ip)
		return m
	}
	m, _ := w.WhoHas(ip, 300*time.Millisecond)
	return m
}

// WaitOneMAC waits until exactly one MAC answers for ip: node's.
func (l *Lab) WaitOneMAC(ctx context.Context, w *ARPWatcher, ip, node string, timeout time.Duration) error {
	return Eventually(ctx, timeout, 300*time.Millisecond, func() (bool, string) {
		macs := l.MACsFor(ctx, w, ip)
		return len(macs) == 1 && l.NodeByMAC(macs[0]) == node,
			fmt.Sprintf("MACs answering for %s: %v, want only %s's %s", ip, macs, node, l.Hosts[node].MAC)
	})
}

// LongestWait is how long a client of the probe waited at worst for an
// answer: over every request, the time from its start to the end of the
// first successful request started at or after it (itself, if it
// succeeded). A request that fails or hangs makes the wait run on until a
// later one succeeds; a pause of the probing process itself, in which no
// request starts, is not counted as the network's. at is the start of the
// request that waited longest. Requests after the last success wait for
// nothing that happened and are not counted.
func LongestWait(samples []Sample) (longest time.Duration, at time.Time) {
	byStart := append([]Sample(nil), samples...)
	sort.Slice(byStart, func(i, j int) bool { return byStart[i].At.Before(byStart[j].At) })
	// next[i]: the earliest end of a successful request started at or
	// after byStart[i].
	next := make([]time.Time, len(byStart))
	var best time.Time
	for i := len(byStart) - 1; i >= 0; i-- {
		if s := byStart[i]; s.Err == nil && (best.IsZero() || s.Done.Before(best)) {
			best = s.Done
		}
		next[i] = best
	}
	for i, s := range byStart {
		if next[i].IsZero() {
			continue
		}
		if w := next[i].Sub(s.At); w > longest {
			longest, at = w, s.At
		}
	}
	return longest, at
}
