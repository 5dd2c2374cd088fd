package kernels

import "github.com/ood-agent/ood-agent/model/tensor"

// Tensor is the run-time tensor kernels read and write; see package tensor.
type Tensor = tensor.Tensor

// NumElements is the product of dims (1 for a scalar).
func NumElements(dims []int) int { return tensor.NumElements(dims) }

// AlignedBytes returns n zeroed bytes whose start is 64-byte aligned.
func AlignedBytes(n int) []byte { return tensor.AlignedBytes(n) }

// Aligned reports whether b's start is aligned for elements of size bytes.
func Aligned(b []byte, size int) bool { return tensor.Aligned(b, size) }

func view[T any](b []byte) []T { return tensor.View[T](b) }
