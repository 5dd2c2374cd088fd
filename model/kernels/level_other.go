//go:build !amd64 && !arm64

package kernels

// hostLevels: microkernels exist for amd64 and arm64 only; 32-bit ARM and
// every other architecture run the generic kernels.
func hostLevels() []Level { return []Level{LevelGeneric} }
