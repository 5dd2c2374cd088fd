package kernels

import "golang.org/x/sys/cpu"

// hostLevels: Advanced SIMD is part of every arm64 core; the dot-product
// instructions came with ARMv8.2 (Cortex-A55/A76 and later, not the Pi 3
// and 4's A53/A72).
func hostLevels() []Level {
	if cpu.ARM64.HasASIMDDP {
		return []Level{LevelGeneric, LevelNEON, LevelDotProd}
	}
	return []Level{LevelGeneric, LevelNEON}
}

// archFamilies: every kernel family has vector code here.
const archFamilies = allFamilies
