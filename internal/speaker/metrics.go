package speaker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the speaker's own Prometheus metrics. The election
// (leaselb_election_*) and the announcer (leaselb_l2_*) register theirs on
// the same registry. No label carries an IP, a group or a Service.
type metrics struct {
	held        prometheus.Gauge
	candidacy   *prometheus.GaugeVec
	ignored     *prometheus.GaugeVec
	handovers   *prometheus.CounterVec
	claimToAnn  prometheus.Histogram
	wireClaims  *prometheus.CounterVec
	conflicts   prometheus.Counter
	recompute   prometheus.Histogram
	annInterval prometheus.Histogram
	relists     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "leaselb_speaker_groups_held",
			Help: "Announcement groups this node announces now (held in the election and still a candidate).",
		}),
		candidacy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "leaselb_speaker_candidacy_groups",
			Help: "Announcement groups by this node's candidacy: reason=candidate, or why the node may not announce them.",
		}, []string{"reason"}),
		ignored: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "leaselb_speaker_services_ignored",
			Help: "LoadBalancer Services that form no announcement group, by reason (notOurClass, noIP).",
		}, []string{"reason"}),
		handovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leaselb_speaker_handovers_total",
			Help: "Groups this node started (direction=in, reason=won) or stopped (direction=out) announcing, by reason.",
		}, []string{"direction", "reason"}),
		claimToAnn: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "leaselb_speaker_claim_to_announce_seconds",
			Help:    "Time from this node's winning claim of a group's lease to the return of the announcer's Set, which sends the first gratuitous ARP / unsolicited NA.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		wireClaims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leaselb_speaker_wire_claims_total",
			Help: "Frames claiming one of our VIPs from another MAC, by verdict: successor (we stop announcing), predecessor (ignored: our lease is current), conflict (a MAC of no speaker), stale (not announced by us any more).",
		}, []string{"verdict"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "leaselb_speaker_ip_conflicts_total",
			Help: "Frames from a MAC that belongs to no speaker claiming a VIP this node announces (an IPConflict Event is raised, rate-limited).",
		}),
		recompute: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "leaselb_speaker_recompute_seconds",
			Help:    "Time to recompute every group and this node's candidacy after a cluster change.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}),
		annInterval: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "leaselb_speaker_announcer_set_seconds",
			Help:    "Duration of the announcer's Set calls (they send the first gratuitous announcement of every newly held VIP).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}),
		relists: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "leaselb_speaker_relists_total",
			Help: "Re-lists of the inputs that define groups (Services, EndpointSlices, Nodes, pools, advertisements) started because the API server answered again after failing while some of their watches had failed.",
		}),
	}
	for _, r := range allReasons {
		m.candidacy.WithLabelValues(string(r))
	}
	m.candidacy.WithLabelValues(string(ReasonCandidate))
	for _, r := range []Reason{ReasonNotOurClass, ReasonNoIP} {
		m.ignored.WithLabelValues(string(r))
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.held, m.candidacy, m.ignored, m.handovers, m.claimToAnn,
		m.wireClaims, m.conflicts, m.recompute, m.annInterval, m.relists} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("speaker: registering metrics (one speaker per registry): %w", err)
		}
	}
	return m, nil
}
