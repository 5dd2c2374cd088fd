// Package oracle runs TensorFlow Lite models through the real TensorFlow Lite
// runtime so that tests can hold the pure-Go interpreter to it.
//
// The runtime is the WebAssembly build shipped in the npm package
// @tensorflow/tfjs-tflite, driven by tools/tflite-oracle/oracle.mjs under
// Node.js. It is installed with `npm ci` in tools/tflite-oracle; [Available]
// reports whether that has been done and Node.js is on PATH.
//
// An [Oracle] is one long-lived Node.js process that answers many requests,
// each with a fresh interpreter, so that stateful models start from a clean
// state every time. [Bench] times a model in a separate process.
package oracle
