package kernels

import (
	"fmt"
	"os"
	"strings"
)

// Level is a set of SIMD microkernels the 8-bit and float convolutions can
// run on. Every level computes exactly the bytes the generic (pure Go)
// kernels compute; a faster level only changes how long it takes.
type Level uint8

const (
	// LevelAuto, the zero value, means the best level the CPU runs,
	// unless OOD_AGENT_KERNELS names another.
	LevelAuto Level = iota
	// LevelGeneric is the portable pure-Go kernels, on every architecture.
	LevelGeneric
	// LevelAVX2 uses AVX2 and FMA (amd64).
	LevelAVX2
	// LevelVNNI is LevelAVX2 with the 8-bit matrix products on AVX-VNNI
	// dot products (VPDPBUSD, amd64).
	LevelVNNI
	// LevelNEON uses Advanced SIMD: every kernel on arm64, the 8-bit
	// matrix products on 32-bit ARM (ARMv7 with NEON).
	LevelNEON
	// LevelDotProd uses the ARMv8.2 SDOT/UDOT instructions (arm64) for
	// the 8-bit matrix products.
	LevelDotProd
)

// avx2 reports whether l runs the AVX2 kernels (VNNI adds to them).
func (l Level) avx2() bool { return l == LevelAVX2 || l == LevelVNNI }

// kernelFamily is a group of kernels that has vector code on an
// architecture or not (archFamilies in level_GOARCH.go).
type kernelFamily uint8

const (
	// familyQ8Gemm: the 8-bit matrix products and their requantization.
	familyQ8Gemm kernelFamily = 1 << iota
	// familyDepthwiseQ8: 8-bit depthwise, multiplier one, runtime rounding.
	familyDepthwiseQ8
	// familyFloat: float products, depthwise and elementwise loops.
	familyFloat
	// familyRowDots: the scorers' row products.
	familyRowDots

	allFamilies = familyQ8Gemm | familyDepthwiseQ8 | familyFloat | familyRowDots
)

// vector reports whether l is a vector level: every level but generic
// (and auto, before it is resolved).
func (l Level) vector() bool { return l.avx2() || l == LevelNEON || l == LevelDotProd }

// runs reports whether l runs family f in vector code on this
// architecture.
func (l Level) runs(f kernelFamily) bool { return l.vector() && archFamilies&f != 0 }

// dot reports whether l multiplies 8-bit values with 4-way byte dot
// products (SDOT/UDOT, VPDPBUSD) rather than widening them to int16.
func (l Level) dot() bool { return l == LevelDotProd || l == LevelVNNI }

// EnvKernels is the environment variable that forces a kernel level.
const EnvKernels = "OOD_AGENT_KERNELS"

var levelNames = [...]string{"auto", "generic", "avx2", "vnni", "neon", "dotprod"}

func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("Level(%d)", l)
}

// ParseLevel returns the level named s (case-insensitive), or an error
// listing the names it knows.
func ParseLevel(s string) (Level, error) {
	for i, name := range levelNames {
		if strings.EqualFold(strings.TrimSpace(s), name) {
			return Level(i), nil
		}
	}
	return 0, fmt.Errorf("unknown kernel level %q (want one of %s)", s, strings.Join(levelNames[:], ", "))
}

// Levels returns the levels this machine can run, slowest first: always
// generic, then whichever faster ones both the CPU and this build provide.
func Levels() []Level { return hostLevels() }

// BestLevel is the fastest level this machine can run.
func BestLevel() Level {
	l := hostLevels()
	return l[len(l)-1]
}

// Supported reports whether this machine can run level l.
func Supported(l Level) bool {
	for _, h := range hostLevels() {
		if h == l {
			return true
		}
	}
	return false
}

// ResolveLevel turns a requested level into the one kernels run: auto
// becomes the level OOD_AGENT_KERNELS names, or the best one when it is
// unset. A level this machine cannot run is an error rather than a silent
// fallback, so that a user who forces a kernel gets the one named or none.
func ResolveLevel(l Level) (Level, error) {
	if l == LevelAuto {
		env := os.Getenv(EnvKernels)
		if env == "" {
			return BestLevel(), nil
		}
		var err error
		if l, err = ParseLevel(env); err != nil {
			return 0, fmt.Errorf("%s: %w", EnvKernels, err)
		}
		if l == LevelAuto {
			return BestLevel(), nil
		}
	}
	if !Supported(l) {
		return 0, fmt.Errorf("kernel level %s: not available on this machine (available: %s)", l, levelList(hostLevels()))
	}
	return l, nil
}

func levelList(ls []Level) string {
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.String()
	}
	return strings.Join(names, ", ")
}
