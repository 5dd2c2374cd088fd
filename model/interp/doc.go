// Package interp runs a decoded TFLite model: it resolves every operator to a
// kernel, prepares them once (types, shapes, quantization parameters), plans
// one memory arena in which tensors whose lifetimes do not overlap share
// space, and then invokes the graph without heap allocation.
package interp
