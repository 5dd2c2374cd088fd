// Package hub is the central server of an ood-agent fleet: it stores what
// the agents publish over MQTT and serves it as a web UI and a JSON API.
//
// The work is split into subpackages: store (the database, SQLite or
// PostgreSQL), ingest (the MQTT subscriber that validates and stores
// messages) and web (HTTP). Server ties them together for the
// `ood-agent hub` command.
package hub
