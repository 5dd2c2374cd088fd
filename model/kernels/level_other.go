//go:build !amd64

package kernels

// hostLevels: only amd64 has microkernels so far; arm64 (NEON, dot
// product) and 32-bit ARM run the generic kernels.
func hostLevels() []Level { return []Level{LevelGeneric} }
