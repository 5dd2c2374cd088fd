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

// archFamilies: the 8-bit matrix products and depthwise have NEON code
// here; the float kernels stay generic, since ARMv7 NEON flushes
// subnormals to zero where Go's float arithmetic keeps them, and so do the
// row products.
const archFamilies = familyQ8Gemm | familyDepthwiseQ8
