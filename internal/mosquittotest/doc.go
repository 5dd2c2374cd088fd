// Package mosquittotest starts real Mosquitto brokers on loopback ports
// for integration tests.
//
// Tests that exercise reconnects, persistent sessions, last wills and
// mutual TLS need a broker that behaves like the ones the agent talks to
// in the field, so this package runs /usr/sbin/mosquitto with a generated
// configuration in a per-test temporary directory instead of faking the
// protocol. When the binary is missing, tests are skipped, except when the
// environment variable CI is "true", where they fail.
//
// It also provides a tiny TCP proxy whose connections can be cut, which
// lets a test drop a client's connection without the client sending a
// DISCONNECT packet, so that the broker publishes the client's will.
package mosquittotest
