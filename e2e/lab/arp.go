package lab

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/mdlayher/arp"
)

// An ARPWatcher is a raw ARP socket on the client's eth0: it asks who has a
// VIP and collects every answer (arping stops at the first), and it sees
// the gratuitous ARPs speakers send on takeover.
type ARPWatcher struct {
	c  *arp.Client
	me netip.Addr
}

// OpenARP opens an ARPWatcher in the client namespace. The socket is made
// on a thread switched into the namespace, so it belongs to the client's
// eth0; it is then used from any goroutine.
func (l *Lab) OpenARP() (*ARPWatcher, error) {
	c, err := inNetns(l.Hosts["client"].NS, func() (*arp.Client, error) {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return nil, err
		}
		return arp.Dial(ifi)
	})
	if err != nil {
		return nil, err
	}
	me, _ := netip.AddrFromSlice(l.Hosts["client"].IPv4)
	return &ARPWatcher{c: c, me: me.Unmap()}, nil
}

// Close closes the socket.
func (w *ARPWatcher) Close() error { return w.c.Close() }

// WhoHas broadcasts one ARP request for ip and returns the distinct MACs
// that reply to it within wait, in lower case.
func (w *ARPWatcher) WhoHas(ip string, wait time.Duration) ([]string, error) {
	target, err := netip.ParseAddr(ip)
	if err != nil {
		return nil, err
	}
	if err := w.c.SetDeadline(time.Now().Add(wait)); err != nil {
		return nil, err
	}
	if err := w.c.Request(target); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for {
		p, _, err := w.c.Read()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			return nil, err
		}
		if p.Operation == arp.OperationReply && p.SenderIP == target && p.TargetIP == w.me {
			seen[strings.ToLower(p.SenderHardwareAddr.String())] = true
		}
	}
	macs := make([]string, 0, len(seen))
	for m := range seen {
		macs = append(macs, m)
	}
	sort.Strings(macs)
	return macs, nil
}

// FirstAnnouncement waits up to timeout for a gratuitous ARP (request or
// reply whose sender and target IP are ip) from a MAC other than notMAC,
// and returns when it arrived and the MAC.
func (w *ARPWatcher) FirstAnnouncement(ip, notMAC string, timeout time.Duration) (time.Time, string, error) {
	target, err := netip.ParseAddr(ip)
	if err != nil {
		return time.Time{}, "", err
	}
	if err := w.c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return time.Time{}, "", err
	}
	for {
		p, _, err := w.c.Read()
		if err != nil {
			return time.Time{}, "", err
		}
		at := time.Now()
		mac := strings.ToLower(p.SenderHardwareAddr.String())
		if p.SenderIP == target && p.TargetIP == target && !strings.EqualFold(mac, notMAC) {
			return at, mac, nil
		}
	}
}
