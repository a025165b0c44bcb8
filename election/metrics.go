package election

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Elector's Prometheus metrics. Labels are low-cardinality
// on purpose: no group or IP label.
type metrics struct {
	held         prometheus.Gauge
	elections    *prometheus.CounterVec
	handovers    *prometheus.CounterVec
	writes       *prometheus.CounterVec
	overtaken    prometheus.Counter
	claimLatency prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "leaselb_election_groups_held",
			Help: "Announcement groups this node holds.",
		}),
		elections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leaselb_election_claims_total",
			Help: "Claims of VIP leases by this node, by result (won, or lost a race to another node).",
		}, []string{"result"}),
		handovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leaselb_election_handovers_total",
			Help: "Groups this node started (direction=in) or stopped (direction=out) holding, by reason.",
		}, []string{"direction", "reason"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leaselb_election_api_writes_total",
			Help: "Lease writes sent to the API server, by lease kind (node, vip), verb and result (ok, conflict, error).",
		}, []string{"lease", "verb", "result"}),
		overtaken: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "leaselb_election_writes_overtaken_total",
			Help: "VIP lease writes dropped unsent because the lease changed in the cache while they waited for a write slot (another node claimed it first).",
		}),
		claimLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "leaselb_election_claim_seconds",
			Help:    "Time from a group becoming claimable on this node's clock to this node's claim succeeding.",
			Buckets: []float64{.005, .01, .025, .05, .1, .2, .4, .8, 1.6, 3.2},
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.held, m.elections, m.handovers, m.writes, m.overtaken, m.claimLatency} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("election: metrics already registered; create one Elector per Registerer: %w", err)
			}
			return nil, fmt.Errorf("election: registering metrics: %w", err)
		}
	}
	return m, nil
}
