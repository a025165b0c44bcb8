//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/leaselb/leaselb/e2e/lab"
)

// TestDataLinkDown: the holder's data link (eth0) goes down while its
// management link and its speaker stay up, so it still reaches the API
// server. It can no longer announce, so it releases and another node takes
// the VIP; when the link comes back it answers nothing for the VIP (a raw
// ARP sampler every 300 ms for 10 s never hears two MACs), and the VIP does
// not move back.
func TestDataLinkDown(t *testing.T) {
	l := needLeaselb(t)
	ctx := context.Background()
	vip := createService(t, l, ServiceSpecFor("data-link", 8080), 1)[0]
	serving(t, l, vip, 8080)
	old := holder(t, l, vip, "")
	probe := l.StartProbe(vip, 8080, 50*time.Millisecond, time.Second)
	time.Sleep(500 * time.Millisecond)
	downAt, err := l.DataLinkDown(ctx, old)
	if err != nil {
		probe.Stop()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.DataLinkUp(context.Background(), old) })
	successor := holder(t, l, vip, old)
	err = lab.Eventually(ctx, failover, 100*time.Millisecond, func() (bool, string) {
		_, _, ok := lab.Gap(probe.Samples(), downAt, old)
		return ok, "no answer from a successor yet"
	})
	time.Sleep(300 * time.Millisecond)
	samples := probe.Stop()
	if err != nil {
		t.Fatalf("traffic never moved off %s after its data link went down: %v", old, err)
	}
	gap, from, _ := lab.Gap(samples, downAt, old)
	t.Logf("data link of %s down: %s holds %s, traffic on %s after %s", old, successor, vip, from, gap.Round(time.Millisecond))

	w, err := l.OpenARP()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := l.DataLinkUp(ctx, old); err != nil {
		t.Fatal(err)
	}
	samplesTaken := 0
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		start := time.Now()
		macs, err := w.WhoHas(vip, 250*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		samplesTaken++
		if len(macs) > 1 || len(macs) == 1 && l.NodeByMAC(macs[0]) != successor {
			t.Errorf("%s after %s's link came back: ARP answered by %v (%s); want only %s's %s",
				time.Since(start).Round(time.Millisecond), old, macs, nodesOf(l, macs), successor, l.Hosts[successor].MAC)
		}
		time.Sleep(time.Until(start.Add(300 * time.Millisecond)))
	}
	if h := l.Holder(ctx, vip); h != successor {
		t.Errorf("after %s's link came back the VIP moved to %q; want it to stay on %s", old, h, successor)
	}
	t.Logf("%d ARP samples over 10 s after the link came back: only %s answered", samplesTaken, successor)
}
