// Package clock is the agent's one source of time: the system clock for
// production and a fake clock for tests, behind a small interface that
// covers what the runtime needs (now, timers, tickers). Code that waits
// takes a Clock so that tests can move time instead of sleeping.
package clock
