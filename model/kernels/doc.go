// Package kernels holds the operator implementations of the interpreter: one
// file per operator family, each a Kernel whose Prepare checks types and
// shapes, sizes outputs and precomputes quantization parameters once, and
// whose Eval only computes, without allocating.
//
// Quantized arithmetic follows TensorFlow Lite's reference kernels (fixed-point
// multipliers, rounding-half-away doubling high multiply, rounding right
// shifts), so int8, uint8 and int16 outputs match the real runtime bit for bit
// where its reference path is used.
//
// The heavy kernels (8-bit and float convolutions and fully connected, 8-bit
// depthwise) also have SIMD microkernels in Go assembly, chosen per
// interpreter by a Level: AVX2 on amd64, NEON and the ARMv8.2 dot product on
// arm64 (8-bit matrix products and depthwise), generic (pure Go) everywhere. Every level
// writes exactly the generic kernels' bytes; the generic kernels are the
// portable fallback and the reference the others are tested against.
package kernels
