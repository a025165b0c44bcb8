package controller

import (
	"errors"
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leaselb/leaselb/allocator"
)

// metrics are the controller's Prometheus series. Labels are pool names,
// families and fixed words only; never an IP or a Service.
type metrics struct {
	total        *prometheus.GaugeVec
	inUse        *prometheus.GaugeVec
	errors       *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	leader       prometheus.Gauge
	invalidPools prometheus.Gauge
	pending      prometheus.Gauge
	writes       *prometheus.CounterVec
}

// Reasons for leaselb_allocation_errors_total that are not the
// allocator's (see errorReason).
const (
	errRestore     = "restore"      // a Service's status IPs could not be kept
	errInvalidPool = "invalid_pool" // a pool was rejected (parse error or overlap)
	errConflict    = "conflicting_request"
)

// errorReason turns an allocator error into a metric label.
func errorReason(err error) string {
	for _, r := range []struct {
		err    error
		reason string
	}{
		{allocator.ErrInvalid, "invalid_request"},
		{allocator.ErrNotInPool, "not_in_pool"},
		{allocator.ErrUnknownPool, "unknown_pool"},
		{allocator.ErrNoPool, "no_pool"},
		{allocator.ErrNoFreeIP, "no_free_ip"},
		{allocator.ErrSharing, "sharing"},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "other"
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		total: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "leaselb_allocator_addresses_total",
			Help: "Addresses of a pool that the allocator can hand out, by pool and family (saturates for huge IPv6 pools).",
		}, []string{"pool", "family"}),
		inUse: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "leaselb_allocator_addresses_in_use",
			Help: "Addresses of a pool assigned to Services, by pool and family.",
		}, []string{"pool", "family"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leaselb_allocation_errors_total",
			Help: "Allocation problems reported (once per distinct message per Service or pool), by reason: invalid_request, not_in_pool, unknown_pool, no_pool, no_free_ip, sharing, conflicting_request, restore, invalid_pool, other.",
		}, []string{"reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "leaselb_controller_reconcile_duration_seconds",
			Help:    "Time to handle one work item, by kind: service, pools, status.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"kind"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "leaselb_controller_is_leader",
			Help: "1 while this replica holds the controller Lease and runs the allocator, else 0.",
		}),
		invalidPools: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "leaselb_controller_invalid_pools",
			Help: "IPAddressPools whose current spec is rejected (status condition Valid=False).",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "leaselb_controller_services_pending",
			Help: "Services that are leaselb's but have no IP because allocation failed.",
		}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leaselb_controller_status_writes_total",
			Help: "Status updates sent to the API server, by resource (service, ipaddresspool, l2advertisement) and result (ok, error).",
		}, []string{"resource", "result"}),
	}
	reg.MustRegister(m.total, m.inUse, m.errors, m.duration, m.leader, m.invalidPools, m.pending, m.writes)
	return m
}

// setPool publishes one pool's counts.
func (m *metrics) setPool(pool string, s allocator.Stats) {
	m.total.WithLabelValues(pool, "ipv4").Set(addFloat(s.AssignedIPv4, s.AvailableIPv4))
	m.total.WithLabelValues(pool, "ipv6").Set(addFloat(s.AssignedIPv6, s.AvailableIPv6))
	m.inUse.WithLabelValues(pool, "ipv4").Set(float64(s.AssignedIPv4))
	m.inUse.WithLabelValues(pool, "ipv6").Set(float64(s.AssignedIPv6))
}

// deletePool drops the series of a pool that no longer exists, so
// dashboards do not show ghosts.
func (m *metrics) deletePool(pool string) {
	m.total.DeletePartialMatch(prometheus.Labels{"pool": pool})
	m.inUse.DeletePartialMatch(prometheus.Labels{"pool": pool})
}

// clearState resets what only the leader knows, so a standby does not
// export the numbers of its last term.
func (m *metrics) clearState() {
	m.total.Reset()
	m.inUse.Reset()
	m.invalidPools.Set(0)
	m.pending.Set(0)
}

func addFloat(a, b uint64) float64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return float64(a + b)
}

// saturate converts an allocator count to the int64 of the pool status.
func saturate(n uint64) int64 {
	if n > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(n)
}
