// Package ingest subscribes the hub to the agents' MQTT topics and writes
// what arrives into the store.
//
// Delivery is at least once from the agents and exactly once into the
// store: the subscription is QoS 1 on a persistent session with a fixed
// client id, a message is acknowledged to the broker (PUBACK) only after
// the transaction holding its row has committed, and rows are keyed by
// the agents' message ids. A hub that dies before committing gets the
// message again from the broker; one that dies after committing but
// before acknowledging gets a duplicate, which the store ignores.
//
// Several hub replicas can split the work through an MQTT shared
// subscription ($share/<group>/…), which Mosquitto 2 and clustered
// brokers serve to MQTT 3.1.1 clients.
//
// Besides agent/mqtt, this is the only package that imports the Paho
// client: it needs manual acknowledgement, which agent/mqtt does not
// offer.
package ingest
