// Package outbox is a durable on-disk queue of MQTT messages waiting to be
// published.
//
// A message is written, and synced to disk, before anyone tries to publish
// it, and removed only when the broker has acknowledged it, so alerts
// survive broker outages, power cuts and kill -9. The queue is bounded: when
// it is full, either the oldest message is dropped to make room or the new
// one is refused — or, for a producer that must not lose anything, the
// producer waits for room (WaitRoom). A queue file that cannot be read is moved aside and a new,
// empty one is started, so that a damaged file never stops the agent.
package outbox
