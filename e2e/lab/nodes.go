package lab

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// FailNode fails a node the way a power cut does: its speaker and
// kube-proxy stand-in freeze (SIGSTOP), both its links go down, and the
// processes are killed (SIGKILL, no release). Freezing first matters: a
// speaker that saw its data link go down before the kill would release its
// groups, as it does when only that link fails, and the successor would
// take over at once instead of after detecting a dead holder. It returns
// the moment the node froze.
func (l *Lab) FailNode(ctx context.Context, node string) (time.Time, error) {
	if l.Hosts[node] == nil {
		return time.Time{}, fmt.Errorf("lab: no node %q", node)
	}
	var procs []*Proc
	for _, name := range []string{"speaker-" + node, "proxy-" + node} {
		if p := l.Proc(name); p != nil {
			procs = append(procs, p)
		}
	}
	at := time.Now()
	for _, p := range procs {
		p.Signal(syscall.SIGSTOP)
	}
	_, err := l.linksDown(ctx, node, "eth0", "eth1")
	for _, p := range procs {
		p.Kill()
	}
	return at, err
}

// linksDown takes the node's links down, in order, and returns when the
// first went down.
func (l *Lab) linksDown(ctx context.Context, node string, links ...string) (time.Time, error) {
	h := l.Hosts[node]
	if h == nil {
		return time.Time{}, fmt.Errorf("lab: no node %q", node)
	}
	at := time.Now()
	for _, link := range links {
		if err := ip(ctx, "-n", h.NS, "link", "set", link, "down"); err != nil {
			return at, err
		}
	}
	return at, nil
}

// DataLinkDown takes the node's data link (eth0, where the VIPs are
// announced) down; the management link and every process stay up, so the
// node still reaches the API server. It returns the moment it went down.
func (l *Lab) DataLinkDown(ctx context.Context, node string) (time.Time, error) {
	return l.linksDown(ctx, node, "eth0")
}

// DataLinkUp brings the node's data link back (addresses kept).
func (l *Lab) DataLinkUp(ctx context.Context, node string) error {
	return ip(ctx, "-n", l.Hosts[node].NS, "link", "set", "eth0", "up")
}

// DelayAPI adds d of latency to everything the API server sends, on its
// link (the lab's relay in front of it: this kernel has no netem), until
// UndelayAPI.
func (l *Lab) DelayAPI(d time.Duration) { l.apiLink.setDelay(d) }

// UndelayAPI removes DelayAPI's latency.
func (l *Lab) UndelayAPI() { l.apiLink.setDelay(0) }

// CutAPI cuts the API server's link: every connection through it is reset
// and new ones are refused until RestoreAPI, so every speaker, the
// controller and the lab's Client lose the API server at once while the API
// server itself keeps running (Direct still reaches it).
func (l *Lab) CutAPI() error { return l.apiLink.setCut(true) }

// RestoreAPI ends CutAPI.
func (l *Lab) RestoreAPI() error { return l.apiLink.setCut(false) }

// RecoverNode brings a failed node back: links up, kube-proxy stand-in and
// speaker started again.
func (l *Lab) RecoverNode(ctx context.Context, node string) error {
	h := l.Hosts[node]
	for _, link := range []string{"eth0", "eth1"} {
		if err := ip(ctx, "-n", h.NS, "link", "set", link, "up"); err != nil {
			return err
		}
	}
	// The addresses survive link down (keep_addr_on_down), but make sure.
	for _, a := range []string{h.IPv4.String() + "/24", h.IPv6.String() + "/64"} {
		args := []string{"-n", h.NS, "addr", "replace", a, "dev", "eth0"}
		if strings.Contains(a, ":") {
			args = append(args, "nodad")
		}
		if err := ip(ctx, args...); err != nil {
			return err
		}
	}
	if p := l.Proc("proxy-" + node); p == nil || p.Exited() {
		if err := l.StartProxy(node); err != nil {
			return err
		}
	}
	if p := l.Proc("speaker-" + node); p == nil || p.Exited() {
		if !l.opts.NoLeaselb {
			return l.StartSpeaker(node)
		}
	}
	return nil
}

// StopSpeaker stops a node's speaker gracefully (SIGTERM, as the kubelet
// does) and returns when it was signalled; it waits up to grace for the
// exit, then kills it.
func (l *Lab) StopSpeaker(node string, grace time.Duration) time.Time {
	p := l.Proc("speaker-" + node)
	at := time.Now()
	if p != nil {
		p.Stop(grace)
	}
	return at
}

// CutFromAPI drops, with nftables in the node's namespace, all traffic
// between the node and the control namespace (on both networks): the node
// still reaches the LAN but not the API server.
func (l *Lab) CutFromAPI(ctx context.Context, node string) error {
	h := l.Hosts[node]
	c := l.Hosts["control"]
	rules := fmt.Sprintf(`table inet lab_cut {
	chain out { type filter hook output priority 0; ip daddr { %s, %s } drop; ip6 daddr %s drop; }
	chain in { type filter hook input priority 0; ip saddr { %s, %s } drop; ip6 saddr %s drop; }
}
`, c.IPv4, c.Mgmt, c.IPv6, c.IPv4, c.Mgmt, c.IPv6)
	path := l.stateDir + "/cut-" + node + ".nft"
	if err := writeFile(path, rules); err != nil {
		return err
	}
	_, err := NetnsExec(ctx, h.NS, "nft", "-f", path)
	return err
}

// HealFromAPI removes the rule CutFromAPI added.
func (l *Lab) HealFromAPI(ctx context.Context, node string) error {
	_, err := NetnsExec(ctx, l.Hosts[node].NS, "nft", "delete", "table", "inet", "lab_cut")
	return err
}

// RestartController stops the controller (SIGTERM) and starts it again.
func (l *Lab) RestartController() error {
	if p := l.Proc("controller"); p != nil {
		p.Stop(10 * time.Second)
	}
	return l.StartController()
}

// StopAPIServer stops kube-apiserver (SIGTERM); StartAPIServer brings it
// back on the same etcd.
func (l *Lab) StopAPIServer() {
	if p := l.Proc("kube-apiserver"); p != nil {
		p.Stop(15 * time.Second)
	}
}
