// Package backoff spaces out retries: capped exponential delays with
// jitter, the one policy the agent uses for broker reconnects, source
// restarts and failed publishes. It is a few lines rather than a library
// because every caller needs the same three things — a configured maximum,
// a reset after success, and a wait that ends with its context — and
// cenkalti/backoff's retry-loop shape fits none of the callers' loops.
package backoff
