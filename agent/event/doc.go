// Package event turns per-frame observations of the OOD detector into the
// messages the agent publishes over MQTT, and defines those messages.
//
// A Decider receives one Observation per classified frame and returns the
// messages it calls for. In per-frame mode (ModeFrame), used for
// directories and standard input where every input stands alone, each
// out-of-distribution observation yields one alert. In stream mode
// (ModeStream), used for cameras where consecutive frames show the same
// scene, observations are grouped into events: event_start when K of the
// last N observations are out of distribution, rate-limited event_update
// messages while the event lasts, and event_end when the scene is back in
// distribution or no out-of-distribution frame has arrived for a while.
// The Decider starts no goroutines and reads no clock on its own during
// decisions: time comes in with each Observation and each Tick, so the
// logic is deterministic under test.
//
// Every message carries a unique, time-sortable id (a UUIDv7 made by an
// IDGenerator). The outbox delivers at least once, so receivers drop
// duplicates by id. Status and Stats are the agent's other payloads, and
// Topics lays out where each is published. docs/mqtt.md describes the
// wire format and docs/schema holds its JSON Schemas; the tests of this
// package validate real messages against those schemas.
package event
