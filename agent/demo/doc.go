// Package demo bundles the sample frames of `ood-agent demo` — Fashion-MNIST
// test images the demo model knows, and out-of-distribution images (MNIST
// digits, noise, a blank frame) — and an embedded MQTT broker to run the
// whole agent with no set-up.
package demo
