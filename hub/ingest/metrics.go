package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the ingest counters exported on the hub's /metrics.
type Metrics struct {
	Received   *prometheus.CounterVec
	Stored     *prometheus.CounterVec
	Duplicates prometheus.Counter
	Dropped    *prometheus.CounterVec
	DBErrors   prometheus.Counter
	Lag        prometheus.Histogram
	BatchSize  prometheus.Histogram
}

// NewMetrics creates the ingest metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ood_hub_messages_received_total", Help: "MQTT messages received, by topic kind.",
		}, []string{"kind"}),
		Stored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ood_hub_rows_stored_total", Help: "New rows committed, by table (alerts, stats).",
		}, []string{"table"}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ood_hub_duplicate_alerts_total", Help: "Alerts received again after they were stored (at-least-once redeliveries).",
		}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ood_hub_messages_dropped_total", Help: "Malformed or foreign messages that were not stored, by reason.",
		}, []string{"reason"}),
		DBErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ood_hub_db_errors_total", Help: "Failed database transactions (retried).",
		}),
		Lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ood_hub_ingest_lag_seconds", Help: "From an alert's time on the device to its commit in the hub.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10),
		}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ood_hub_batch_messages", Help: "Messages committed per transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
	}
	reg.MustRegister(m.Received, m.Stored, m.Duplicates, m.Dropped, m.DBErrors, m.Lag, m.BatchSize)
	return m
}
