package l2

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values for the family label.
const (
	familyIPv4 = "ipv4"
	familyIPv6 = "ipv6"
)

// metrics are the announcer's counters. Labels are interface and family
// only: an IP label would grow with the number of Services.
type metrics struct {
	requests     *prometheus.CounterVec
	replies      *prometheus.CounterVec
	gratuitous   *prometheus.CounterVec
	claims       *prometheus.CounterVec
	malformed    *prometheus.CounterVec
	socketErrors *prometheus.CounterVec
	claimsLost   prometheus.Counter
	answering    *prometheus.GaugeVec
	coarse       *prometheus.GaugeVec
	probes       *prometheus.CounterVec
	probeReplies *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	labels := []string{"interface", "family"}
	counter := func(name, help string, l ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "leaselb", Subsystem: "l2", Name: name, Help: help}, l)
	}
	m := &metrics{
		requests:     counter("requests_received_total", "ARP requests and IPv6 Neighbor Solicitations for held VIPs that reached the speaker.", labels...),
		replies:      counter("replies_sent_total", "ARP replies and solicited Neighbor Advertisements sent for held VIPs.", labels...),
		gratuitous:   counter("gratuitous_sent_total", "Gratuitous ARP frames and unsolicited Neighbor Advertisements sent (takeover burst and refresh).", labels...),
		claims:       counter("claims_seen_total", "Frames that claim a held VIP from a MAC that is not this node's.", labels...),
		malformed:    counter("malformed_dropped_total", "Received ARP/NDP frames dropped because they do not parse or break protocol rules.", labels...),
		socketErrors: counter("socket_errors_total", "Errors opening, reading or writing an interface's raw sockets; the interface is retried with backoff.", "interface"),
		claimsLost: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "leaselb", Subsystem: "l2", Name: "claims_dropped_total",
			Help: "Claims not delivered to the speaker because its channel was full."}),
		probes:       counter("probes_sent_total", "Wire-check probes sent: ARP requests and Neighbor Solicitations unicast to a holder that missed a node-lease renewal.", labels...),
		probeReplies: counter("probe_replies_total", "Replies to wire-check probes from the probed holder's MAC.", labels...),
		answering: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "leaselb", Subsystem: "l2", Name: "answering",
			Help: "VIPs this node currently answers for, per interface and family."}, labels),
		coarse: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "leaselb", Subsystem: "l2", Name: "kernel_filter_coarse",
			Help: "1 while an interface's sockets pass every ARP/NDP frame to the speaker because the kernel refused the filter naming its VIPs (raise net.core.optmem_max)."}, []string{"interface"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.replies, m.gratuitous, m.claims, m.malformed, m.socketErrors, m.claimsLost, m.answering, m.coarse, m.probes, m.probeReplies} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("l2: metrics already registered: give each Announcer its own prometheus.Registerer: %w", err)
			}
			return nil, fmt.Errorf("l2: registering metrics: %w", err)
		}
	}
	return m, nil
}
