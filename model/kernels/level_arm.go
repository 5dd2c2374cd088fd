package kernels

import "golang.org/x/sys/cpu"

// hostLevels: on 32-bit ARM the NEON level runs the 8-bit matrix products
// (gemm_q8_arm.s), which carry most of a quantized camera model's work.
// NEON is optional in ARMv7 (the kernel's HWCAP says whether the core has
// it), and an armv6 build may run on a core that has it.
func hostLevels() []Level {
	if cpu.ARM.HasNEON {
		return []Level{LevelGeneric, LevelNEON}
	}
	return []Level{LevelGeneric}
}

// allKernels: only the 8-bit matrix products have NEON code here; the
// depthwise, float and row-product kernels stay generic (Level.simd).
const allKernels = false
