// Package conformance reads the TFLite conformance cases (real converter
// output with inputs and the outputs the real runtime produced) and compares
// interpreter outputs with them within each case's tolerance.
package conformance
