package kernels

import "golang.org/x/sys/cpu"

// hostLevels: AVX2 kernels need FMA too (the float kernels use it). The
// VNNI level has no kernels yet, so it is never offered.
func hostLevels() []Level {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		return []Level{LevelGeneric, LevelAVX2}
	}
	return []Level{LevelGeneric}
}
