//go:build !linux

package kernels

import "runtime"

// osYield lets other goroutines run; without a portable thread yield this
// is the best a spinning pool thread can do here.
func osYield() { runtime.Gosched() }
