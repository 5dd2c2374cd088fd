// Package kernels holds the operator implementations of the interpreter: one
// file per operator family, each a Kernel whose Prepare checks types and
// shapes, sizes outputs and precomputes quantization parameters once, and
// whose Eval only computes, without allocating.
//
// Quantized arithmetic follows TensorFlow Lite's reference kernels (fixed-point
// multipliers, rounding-half-away doubling high multiply, rounding right
// shifts), so int8, uint8 and int16 outputs match the real runtime bit for bit
// where its reference path is used.
package kernels
