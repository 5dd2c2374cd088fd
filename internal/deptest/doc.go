// Package deptest holds the repository's import rules as a test: which
// packages may import the MQTT client and the configuration library, and
// which layers may depend on which. It has no non-test code.
package deptest
