// Package rollout installs a new model and calibration on an agent from a
// signed manifest, and takes it back out when it misbehaves.
//
// A Manager downloads the files the manifest names from the hub over
// HTTP(S), resuming interrupted downloads, checks their sizes and SHA-256
// against the manifest, stages them in a versioned directory, loads them
// in a second interpreter and runs a self-test (ID frames must be accepted
// at the calibration's rate, within a tolerance). The runner then swaps
// detectors between two frames while Activate repoints the "current"
// symbolic link; for the first frames the new model's out-of-distribution
// rate is watched, and the previous model comes back automatically if it
// is too high. Every step is recorded in a state file before it is taken,
// so an agent killed at any point restarts on the model that was last
// committed.
package rollout
