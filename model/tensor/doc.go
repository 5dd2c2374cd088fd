// Package tensor is the run-time tensor shared by the interpreter, its
// kernels and the code that fills model inputs: a description (name, type,
// shape, quantization) plus the aligned bytes that hold its values, with typed
// views and dequantization that do not allocate.
package tensor
