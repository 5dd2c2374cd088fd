// Package runner is the agent at run time: it wires a frame source, the
// detector, the event decider, the durable outbox and the MQTT client into
// one group of goroutines, serves /healthz and /metrics, publishes status and
// stats, applies reloaded settings, and on shutdown ends open events and
// flushes the outbox before it disconnects.
package runner
