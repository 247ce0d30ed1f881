// Package metrics exports callscreen's Prometheus metrics: calls by action
// and outcome, indicator hits, decision latency, the ARI connection, the
// call log's health and notification deliveries.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/callscreen/callscreen/screening"
)

// Metrics holds callscreen's collectors in their own registry.
type Metrics struct {
	reg        *prometheus.Registry
	calls      *prometheus.CounterVec
	indicators *prometheus.CounterVec
	decision   prometheus.Histogram
	handling   *prometheus.HistogramVec
	connected  prometheus.Gauge
}

// LogStats reports the call log writer's counters.
type LogStats interface {
	Written() uint64
	Dropped() uint64
	Failed() uint64
}

// NotifyStats reports the notifier's delivery counters.
type NotifyStats interface {
	Sent() uint64
	Failed() uint64
	Dropped() uint64
}

// New registers callscreen's metrics. log may be nil.
func New(log LogStats) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callscreen", Name: "calls_total",
			Help: "Screened calls by mode, profile, verdict action, action taken and outcome.",
		}, []string{"mode", "profile", "action", "taken", "outcome"}),
		indicators: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callscreen", Name: "indicator_hits_total",
			Help: "Indicators that fired, by name.",
		}, []string{"indicator"}),
		decision: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "callscreen", Name: "decision_seconds",
			Help:    "Time the engine took to decide, per call.",
			Buckets: []float64{5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 250e-6, 1e-3, 5e-3},
		}),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "callscreen", Name: "handling_seconds",
			Help:    "Time from taking a call until it left callscreen, by mode (prompts included).",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .5, 1, 5, 15, 30, 60},
		}, []string{"mode"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "callscreen", Name: "ari_connected",
			Help: "1 while connected to Asterisk's ARI, else 0.",
		}),
	}
	m.reg.MustRegister(m.calls, m.indicators, m.decision, m.handling, m.connected,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if log != nil {
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "callscreen", Name: "log_records_written_total", Help: "Call log records written."}, func() float64 { return float64(log.Written()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "callscreen", Name: "log_records_dropped_total", Help: "Call log records dropped because the writer was overwhelmed."}, func() float64 { return float64(log.Dropped()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "callscreen", Name: "log_write_errors_total", Help: "Call log records that failed to be written (disk full, read-only database)."}, func() float64 { return float64(log.Failed()) }),
		)
	}
	return m
}

// WatchNotifications exports n's delivery counters (webhook and email
// deliveries, each destination counted on its own).
func (m *Metrics) WatchNotifications(n NotifyStats) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "callscreen", Name: "notifications_sent_total", Help: "Notifications delivered (webhook and email, per destination)."}, func() float64 { return float64(n.Sent()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "callscreen", Name: "notifications_failed_total", Help: "Notifications given up after their retries."}, func() float64 { return float64(n.Failed()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "callscreen", Name: "notifications_dropped_total", Help: "Notifications dropped because a destination's queue was full."}, func() float64 { return float64(n.Dropped()) }),
	)
}

// WatchCounter exports a counter read from f when /metrics is scraped
// (callscreen_<name>).
func (m *Metrics) WatchCounter(name, help string, f func() uint64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "callscreen", Name: name, Help: help},
		func() float64 { return float64(f()) }))
}

// Observe counts one finished call.
func (m *Metrics) Observe(r *screening.Record) {
	m.calls.WithLabelValues(string(r.Mode), r.Verdict.Profile, string(r.Verdict.Action), string(r.Taken), string(r.Outcome)).Inc()
	for _, f := range r.Verdict.Findings {
		m.indicators.WithLabelValues(f.Indicator).Inc()
	}
	m.decision.Observe(r.Decision.Seconds())
	m.handling.WithLabelValues(string(r.Mode)).Observe(r.Handling.Seconds())
}

// SetConnected records the ARI connection state.
func (m *Metrics) SetConnected(up bool) {
	if up {
		m.connected.Set(1)
	} else {
		m.connected.Set(0)
	}
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
