// Package interp runs a decoded TFLite model: it resolves every operator to a
// kernel, prepares them once (types, shapes, quantization parameters), plans
// one memory arena in which tensors whose lifetimes do not overlap share
// space, and then invokes the graph without heap allocation.
//
// Kernels run at the SIMD level the CPU offers (Options.Kernels,
// OOD_AGENT_KERNELS; see package kernels), every level computing the same
// bytes.
//
// A Plan (NewPlan) is the immutable part, worked out once per model and
// options: kernels resolved, shapes final, constants aligned, weights
// packed, the arena laid out. An Interpreter (NewFromPlan; New does both)
// is one run's state on top: its arena, its kernels' scratch, variable
// tensors and worker goroutines. Interpreters of one plan share one copy
// of the weights and can run concurrently.
package interp
