// Package deliver moves messages from the agent to the broker through the
// durable outbox: a Writer commits what the pipeline produces in batches
// (one disk sync for a burst of alerts, and inference never waits for the
// disk), and a Sender publishes the queue in order, removing a message only
// once the broker has acknowledged it.
//
// Delivery is at least once: a crash or a connection lost between publish
// and acknowledgement sends a message again, under the same id.
package deliver
