package kernels

import "golang.org/x/sys/cpu"

// hostLevels: AVX2 kernels need FMA too (the float kernels use it) and
// F16C (the half-precision row products; every AVX2 CPU has both); the
// VNNI level is the AVX2 kernels with AVX-VNNI 8-bit products.
func hostLevels() []Level {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA || !cpu.X86.HasF16C {
		return []Level{LevelGeneric}
	}
	if cpu.X86.HasAVXVNNI {
		return []Level{LevelGeneric, LevelAVX2, LevelVNNI}
	}
	return []Level{LevelGeneric, LevelAVX2}
}

// archFamilies: every kernel family has vector code here.
const archFamilies = allFamilies
