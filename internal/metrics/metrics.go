// Package metrics exports callscreen's Prometheus metrics: calls by action
// and outcome, indicator hits, decision latency, the ARI connection, the
// call log's health and notification deliveries.
package metrics

import (
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/callscreen/callscreen/internal/notify"
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
	inFlight   *prometheus.GaugeVec
}

// LogStats reports the call log writer's counters.
type LogStats interface {
	Written() uint64
	Dropped() uint64
	Failed() uint64
	Retried() uint64
}

// NotifyStats reports the notifier's delivery counters, per destination.
type NotifyStats interface {
	Destinations() []notify.DestinationStats
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
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "callscreen", Name: "calls_in_flight",
			Help: "Calls being screened now (decided, not yet handed back or ended), by mode.",
		}, []string{"mode"}),
	}
	for _, mode := range []screening.Mode{screening.ModeARI, screening.ModeAGI} {
		m.inFlight.WithLabelValues(string(mode)).Set(0)
	}
	m.reg.MustRegister(m.calls, m.indicators, m.decision, m.handling, m.connected, m.inFlight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if log != nil {
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "callscreen", Name: "log_records_written_total", Help: "Call log records written."}, func() float64 { return float64(log.Written()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "callscreen", Name: "log_records_dropped_total", Help: "Call log records dropped because the writer was overwhelmed."}, func() float64 { return float64(log.Dropped()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "callscreen", Name: "log_write_errors_total", Help: "Call log records given up: invalid, or not written at shutdown without a journal to keep them."}, func() float64 { return float64(log.Failed()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "callscreen", Name: "log_write_retries_total", Help: "Call log batch writes that failed (database busy, disk full) and were retried; the records wait in memory and the journal."}, func() float64 { return float64(log.Retried()) }),
		)
	}
	return m
}

// WatchNotifications exports n's delivery counters, labelled with the
// destination (webhook, email).
func (m *Metrics) WatchNotifications(n NotifyStats) {
	m.reg.MustRegister(notifyCollector{
		n:       n,
		sent:    prometheus.NewDesc("callscreen_notifications_sent_total", "Notifications delivered, by destination (webhook, email).", []string{"destination"}, nil),
		failed:  prometheus.NewDesc("callscreen_notifications_failed_total", "Notifications given up after their retries, by destination.", []string{"destination"}, nil),
		dropped: prometheus.NewDesc("callscreen_notifications_dropped_total", "Notifications dropped because the destination's queue was full, by destination.", []string{"destination"}, nil),
	})
}

type notifyCollector struct {
	n                     NotifyStats
	sent, failed, dropped *prometheus.Desc
}

func (c notifyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sent
	ch <- c.failed
	ch <- c.dropped
}

func (c notifyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range c.n.Destinations() {
		ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(d.Sent), d.Name)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(d.Failed), d.Name)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(d.Dropped), d.Name)
	}
}

// SetBuildInfo exports callscreen_build_info{version,goversion} 1.
func (m *Metrics) SetBuildInfo(version string) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "callscreen", Name: "build_info",
		Help: "Always 1; the labels say which callscreen and Go built the running binary.",
	}, []string{"version", "goversion"})
	g.WithLabelValues(version, runtime.Version()).Set(1)
	m.reg.MustRegister(g)
}

// WatchLists exports the number of entries on each list, read from size
// at every scrape.
func (m *Metrics) WatchLists(size func(screening.ListKind) int) {
	for _, k := range []screening.ListKind{screening.Allow, screening.Block, screening.DoNotOriginate} {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "callscreen", Name: "list_entries",
			Help:        "Entries on each list (allow, block, dno: do-not-originate) in the live lists.",
			ConstLabels: prometheus.Labels{"list": string(k)},
		}, func() float64 { return float64(size(k)) }))
	}
}

// Evaluator is the engine as the front ends call it.
type Evaluator interface {
	Evaluate(f *screening.Facts, profile string) screening.Verdict
}

// CountInFlight returns e counting each call it decides as in flight in
// mode until Observe sees the call's record (every decided call gets one).
func (m *Metrics) CountInFlight(mode screening.Mode, e Evaluator) Evaluator {
	return inFlightEvaluator{e: e, g: m.inFlight.WithLabelValues(string(mode))}
}

type inFlightEvaluator struct {
	e Evaluator
	g prometheus.Gauge
}

func (i inFlightEvaluator) Evaluate(f *screening.Facts, profile string) screening.Verdict {
	i.g.Inc()
	return i.e.Evaluate(f, profile)
}

// WatchCounter exports a counter read from f when /metrics is scraped
// (callscreen_<name>).
func (m *Metrics) WatchCounter(name, help string, f func() uint64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "callscreen", Name: name, Help: help},
		func() float64 { return float64(f()) }))
}

// WatchGauge exports a gauge read from f when /metrics is scraped
// (callscreen_<name>).
func (m *Metrics) WatchGauge(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "callscreen", Name: name, Help: help}, f))
}

// RetentionStats reports what the retention purge deleted.
type RetentionStats interface {
	PurgedRecords() uint64
	PurgedEntries() uint64
}

// WatchRetention exports r's counters.
func (m *Metrics) WatchRetention(r RetentionStats) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "callscreen", Name: "purged_records_total", Help: "Call log records deleted because they were older than log.retention."}, func() float64 { return float64(r.PurgedRecords()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "callscreen", Name: "purged_list_entries_total", Help: "List entries deleted after their expiry (throttles, remembered callers, expected callbacks)."}, func() float64 { return float64(r.PurgedEntries()) }),
	)
}

// Observe counts one finished call.
func (m *Metrics) Observe(r *screening.Record) {
	m.calls.WithLabelValues(string(r.Mode), r.Verdict.Profile, string(r.Verdict.Action), string(r.Taken), string(r.Outcome)).Inc()
	for _, f := range r.Verdict.Findings {
		m.indicators.WithLabelValues(f.Indicator).Inc()
	}
	m.decision.Observe(r.Decision.Seconds())
	m.handling.WithLabelValues(string(r.Mode)).Observe(r.Handling.Seconds())
	if r.Mode == screening.ModeARI || r.Mode == screening.ModeAGI {
		m.inFlight.WithLabelValues(string(r.Mode)).Dec()
	}
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
