//go:build !amd64 && !arm64 && !arm

package kernels

// hostLevels: microkernels exist for amd64, arm64 and 32-bit ARM only;
// every other architecture runs the generic kernels.
func hostLevels() []Level { return []Level{LevelGeneric} }

const archFamilies kernelFamily = 0
