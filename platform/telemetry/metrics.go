package telemetry

import (
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Metrics is a meter provider whose instruments are read by Prometheus
// scrapes of Handler. Its registry is its own, not Prometheus's global
// one, so that two of them (two tests) never see each other's series.
type Metrics struct {
	// Provider makes the instruments; Setup installs it as the global one.
	Provider *sdkmetric.MeterProvider
	handler  http.Handler
}

// NewMetrics returns a meter provider for the named service with a
// Prometheus exporter, plus the Go runtime's and the process's own
// collectors.
func NewMetrics(service string) (*Metrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(newResource(service)))
	return &Metrics{
		Provider: mp,
		handler:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
	}, nil
}

// Handler serves the metrics in the Prometheus text format, as GET /metrics.
func (m *Metrics) Handler() http.Handler { return m.handler }

// installed is the Metrics that Setup made global.
var installed atomic.Pointer[Metrics]

// install makes m the global meter provider and MetricsHandler's source.
func install(m *Metrics) {
	otel.SetMeterProvider(m.Provider)
	installed.Store(m)
}

// MetricsHandler serves GET /metrics from the meter provider Setup
// installed: every instrument made with otel.Meter, including those of the
// gRPC and HTTP instrumentation. Before Setup it answers 503.
func MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := installed.Load()
		if m == nil {
			http.Error(w, "metrics are not set up", http.StatusServiceUnavailable)
			return
		}
		m.handler.ServeHTTP(w, r)
	})
}
