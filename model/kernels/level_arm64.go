package kernels

// hostLevels: Advanced SIMD is part of every arm64 core.
func hostLevels() []Level {
	return []Level{LevelGeneric, LevelNEON}
}
