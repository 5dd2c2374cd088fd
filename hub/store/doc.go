// Package store keeps the hub's data — devices, alerts, statistics and
// evidence images — in one SQL schema that runs unchanged on SQLite
// (modernc.org/sqlite, pure Go, WAL mode) and PostgreSQL (pgx).
//
// Open runs the versioned migrations, so a database is always at the
// schema the code expects. Alerts and statistics are keyed by the agents'
// message ids and inserted with ON CONFLICT DO NOTHING: an agent delivers
// at least once, the store keeps each message exactly once.
package store
