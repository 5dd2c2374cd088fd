package ingest

import (
	"fmt"

	vm "github.com/VictoriaMetrics/metrics"
)

// Metrics are the ingest counters exported on the hub's /metrics (their
// meanings are listed in docs/hub.md). They use VictoriaMetrics/metrics,
// as the agent does (see agent/runner's metrics for why not
// prometheus/client_golang).
type Metrics struct {
	set        *vm.Set
	Duplicates *vm.Counter
	DBErrors   *vm.Counter
	Lag        *vm.PrometheusHistogram
	BatchSize  *vm.PrometheusHistogram
}

// NewMetrics creates the ingest metrics in set.
func NewMetrics(set *vm.Set) *Metrics {
	return &Metrics{
		set:        set,
		Duplicates: set.NewCounter("ood_hub_duplicate_alerts_total"),
		DBErrors:   set.NewCounter("ood_hub_db_errors_total"),
		Lag:        set.NewPrometheusHistogramExt("ood_hub_ingest_lag_seconds", exponentialBuckets(0.005, 4, 10)),
		BatchSize:  set.NewPrometheusHistogramExt("ood_hub_batch_messages", exponentialBuckets(1, 2, 10)),
	}
}

// Received counts a message of a topic kind (topicKind).
func (m *Metrics) Received(kind string) *vm.Counter {
	return m.labelled("ood_hub_messages_received_total", "kind", kind)
}

// Stored counts new rows of a table: alerts or stats.
func (m *Metrics) Stored(table string) *vm.Counter {
	return m.labelled("ood_hub_rows_stored_total", "table", table)
}

// Dropped counts messages not stored, by Reason.
func (m *Metrics) Dropped(reason string) *vm.Counter {
	return m.labelled("ood_hub_messages_dropped_total", "reason", reason)
}

func (m *Metrics) labelled(name, label, value string) *vm.Counter {
	return m.set.GetOrCreateCounter(fmt.Sprintf("%s{%s=%q}", name, label, value))
}

// exponentialBuckets returns n upper bounds from start, each factor times
// the one before.
func exponentialBuckets(start, factor float64, n int) []float64 {
	b := make([]float64, n)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}
