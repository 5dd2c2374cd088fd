// Package metrics keeps the agent's counters, gauges and latency histograms
// and writes them in the Prometheus text exposition format for /metrics.
package metrics
