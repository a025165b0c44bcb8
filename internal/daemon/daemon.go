// Package daemon holds what the controller and the speaker share around
// their loops: the Kubernetes-style flags, the zap logger, the REST config,
// and the HTTP server for /metrics, /healthz and /readyz. It owns no
// business logic.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultNamespace is where leaselb's own objects live: pools,
// advertisements and Leases.
const DefaultNamespace = "leaselb-system"

// Options are the flags every daemon takes.
type Options struct {
	Kubeconfig  string
	LogLevel    string
	MetricsAddr string
	HealthAddr  string
	Namespace   string
	// QPS and Burst size the client-side rate limiter of the REST client.
	QPS   float64
	Burst int
}

// AddFlags registers the common flags on fs with the given default
// addresses for the metrics and health endpoints.
func (o *Options) AddFlags(fs *flag.FlagSet, metricsAddr, healthAddr string, qps float64, burst int) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "path to a kubeconfig; empty means $KUBECONFIG, then the in-cluster config")
	fs.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", metricsAddr, "address to serve Prometheus metrics on (/metrics); \"0\" disables")
	fs.StringVar(&o.HealthAddr, "health-probe-bind-address", healthAddr, "address to serve /healthz and /readyz on; \"0\" disables")
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = DefaultNamespace
	}
	fs.StringVar(&o.Namespace, "namespace", ns, "namespace of leaselb's pools, advertisements and Leases; $POD_NAMESPACE sets the default")
	fs.Float64Var(&o.QPS, "kube-api-qps", qps, "steady rate of requests to the API server, per second")
	fs.IntVar(&o.Burst, "kube-api-burst", burst, "burst of requests to the API server above --kube-api-qps")
}

// Logger builds the process logger: JSON to stderr at the chosen level.
func (o *Options) Logger() (*zap.Logger, error) {
	var level zapcore.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.LogLevel)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(level)
	cfg.Sampling = nil
	cfg.EncoderConfig.TimeKey = "ts"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return cfg.Build()
}

// RESTConfig loads --kubeconfig, else $KUBECONFIG, else the in-cluster
// configuration, and applies the rate limits and user agent.
func (o *Options) RESTConfig(userAgent string) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	switch {
	case o.Kubeconfig != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	case os.Getenv("KUBECONFIG") != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	default:
		cfg, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			err = errors.New("not running in a cluster and no kubeconfig given: pass --kubeconfig or set $KUBECONFIG")
		}
	}
	if err != nil {
		return nil, err
	}
	cfg.QPS = float32(o.QPS)
	cfg.Burst = o.Burst
	cfg.UserAgent = userAgent
	// No gzip: the API server compresses a watch stream at every flush,
	// one small event at a time, for every watcher that accepts it. With
	// 100 speakers watching the Leases that was a third of its CPU in the
	// scale benchmark (docs/election.md, cost at scale), for events of a
	// few hundred bytes on a LAN.
	cfg.DisableCompression = true
	return cfg, nil
}

// NewRegistry returns a Prometheus registry with the Go and process
// collectors, which every daemon exposes.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// A Check reports nil when healthy, else what is wrong.
type Check func() error

// Health holds the liveness and readiness checks behind /healthz and
// /readyz. Checks may be added while the server runs.
type Health struct {
	mu        sync.Mutex
	liveness  map[string]Check
	readiness map[string]Check
}

// AddLiveness adds a check to /healthz (and so to /readyz too).
func (h *Health) AddLiveness(name string, c Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.liveness == nil {
		h.liveness = map[string]Check{}
	}
	h.liveness[name] = c
}

// AddReadiness adds a check to /readyz only.
func (h *Health) AddReadiness(name string, c Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.readiness == nil {
		h.readiness = map[string]Check{}
	}
	h.readiness[name] = c
}

func (h *Health) handler(ready bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		h.mu.Lock()
		checks := map[string]Check{}
		for n, c := range h.liveness {
			checks[n] = c
		}
		if ready {
			for n, c := range h.readiness {
				checks[n] = c
			}
		}
		h.mu.Unlock()
		names := make([]string, 0, len(checks))
		for n := range checks {
			names = append(names, n)
		}
		sort.Strings(names)
		var body []byte
		failed := false
		for _, n := range names {
			if err := checks[n](); err != nil {
				failed = true
				body = fmt.Appendf(body, "[-] %s: %v\n", n, err)
			} else {
				body = fmt.Appendf(body, "[+] %s ok\n", n)
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if failed {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write(body)
	}
}

// Serve runs the metrics and health endpoints until ctx ends. An address of
// "0" or "" disables that endpoint; both may share one address.
func (o *Options) Serve(ctx context.Context, log *zap.Logger, reg *prometheus.Registry, h *Health) error {
	muxes := map[string]*http.ServeMux{}
	mux := func(addr string) *http.ServeMux {
		if muxes[addr] == nil {
			muxes[addr] = http.NewServeMux()
		}
		return muxes[addr]
	}
	if o.MetricsAddr != "" && o.MetricsAddr != "0" {
		mux(o.MetricsAddr).Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	}
	if o.HealthAddr != "" && o.HealthAddr != "0" {
		m := mux(o.HealthAddr)
		m.Handle("/healthz", h.handler(false))
		m.Handle("/readyz", h.handler(true))
	}
	errc := make(chan error, len(muxes))
	var servers []*http.Server
	for addr, m := range muxes {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, s := range servers {
				_ = s.Close()
			}
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		srv := &http.Server{Handler: m, ReadHeaderTimeout: 5 * time.Second}
		servers = append(servers, srv)
		log.Info("serving metrics and health", zap.String("address", ln.Addr().String()))
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdown)
	}
	return nil
}
