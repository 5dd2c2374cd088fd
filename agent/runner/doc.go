// Package runner is the agent at run time. It assembles the parts — the
// frame source and its pump, the detector, the event decider, the outbox
// writer and sender (package deliver), the MQTT client, the ticker for
// event timeouts and stats, the HTTP server for /healthz and /metrics, the
// systemd watchdog and any part added with Agent.Add — and runs them in
// one group: when one part ends, the others stop in order, so that open
// events are ended, everything produced reaches the outbox, the outbox is
// delivered while the broker is reachable, and the offline status goes out
// last.
package runner
