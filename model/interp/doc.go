// Package interp runs a decoded TFLite model: it resolves every operator to a
// kernel, prepares them once (types, shapes, quantization parameters), plans
// one memory arena in which tensors whose lifetimes do not overlap share
// space, and then invokes the graph without heap allocation.
//
// Kernels run at the SIMD level the CPU offers (Options.Kernels,
// OOD_AGENT_KERNELS; see package kernels), every level computing the same
// bytes. Interpreters built from one Plan (NewPlan, NewFromPlan) share the
// packed weights of their convolutions and can run concurrently.
package interp
