package ood

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/ood-agent/ood-agent/internal/half"
	"github.com/ood-agent/ood-agent/internal/vec"
)

// Storage is the element type of a feature bank.
type Storage string

// Bank storages: int8 with one scale per vector (1 byte a feature, holding
// 7-bit values in [−63, 63] so that the search can do four products per
// 64-bit multiply, see dotInt7) or IEEE half precision (2 bytes, searched
// as they are by the kernels' half-precision products, or decoded to
// float32 in memory when the bank is first searched without them).
const (
	StorageInt8    Storage = "int8"
	StorageFloat16 Storage = "float16"
)

// Bank is a bounded set of L2-normalized in-distribution feature vectors,
// serialized in the calibration file (Data is base64 in JSON).
type Bank struct {
	Dim     int       `json:"dim"`
	N       int       `json:"n"`
	Storage Storage   `json:"storage"`
	Data    []byte    `json:"data"`
	Scales  []float32 `json:"scales,omitempty"`

	// Detectors sharing a calibration prepare its bank once.
	prepareOnce sync.Once
	rowSums     []int32 // int8 banks: Σ of each vector's values
	decodeOnce  sync.Once
	decoded     []float32 // float16 banks as float32, for a search without RowDots.Half
}

// NewBank normalizes and stores the vectors. An empty storage means int8.
func NewBank(vectors [][]float32, storage Storage) (*Bank, error) {
	if storage == "" {
		storage = StorageInt8
	}
	if len(vectors) == 0 {
		return nil, fmt.Errorf("bank: %w", ErrEmpty)
	}
	dim := len(vectors[0])
	b := &Bank{Dim: dim, N: len(vectors), Storage: storage}
	unit := make([]float32, dim)
	switch storage {
	case StorageInt8:
		b.Data = make([]byte, b.N*dim)
		b.Scales = make([]float32, b.N)
	case StorageFloat16:
		b.Data = make([]byte, 2*b.N*dim)
	default:
		return nil, fmt.Errorf("bank: unknown storage %q (want int8 or float16)", storage)
	}
	for i, v := range vectors {
		if len(v) != dim {
			return nil, fmt.Errorf("bank: vector %d has %d values, want %d", i, len(v), dim)
		}
		normalize(unit, v)
		switch storage {
		case StorageInt8:
			b.Scales[i] = quantizeInt7(asInt8(b.Data[i*dim:(i+1)*dim]), unit)
		case StorageFloat16:
			for j, x := range unit {
				binary.LittleEndian.PutUint16(b.Data[2*(i*dim+j):], half.FromFloat32(x))
			}
		}
	}
	return b, nil
}

// Bytes is the memory the stored vectors take.
func (b *Bank) Bytes() int { return len(b.Data) + 4*len(b.Scales) }

// Bounds on a bank read from a file, far above any real one, so that a
// corrupt size cannot overflow or exhaust memory.
const (
	maxBankDim     = 1 << 16
	maxBankVectors = 1 << 20
)

func (b *Bank) validate() error {
	if b.Dim < 1 || b.N < 1 || b.Dim > maxBankDim || b.N > maxBankVectors {
		return fmt.Errorf("bank: %d vectors of %d features (at most %d of %d)", b.N, b.Dim, maxBankVectors, maxBankDim)
	}
	switch b.Storage {
	case StorageInt8:
		// int64: on 32-bit platforms N·Dim of a corrupt file can overflow int.
		if int64(len(b.Data)) != int64(b.N)*int64(b.Dim) || len(b.Scales) != b.N {
			return fmt.Errorf("bank: %d bytes and %d scales for %d int8 vectors of %d", len(b.Data), len(b.Scales), b.N, b.Dim)
		}
		for i, s := range b.Scales {
			if !(s >= 0) || math.IsInf(float64(s), 0) {
				return fmt.Errorf("bank: scale %d is %v", i, s)
			}
		}
		for i, v := range asInt8(b.Data) {
			if v < -int7Offset || v > int7Max {
				return fmt.Errorf("bank: value %d is %d, outside the 7-bit range [−64, 63]", i, v)
			}
		}
	case StorageFloat16:
		if int64(len(b.Data)) != 2*int64(b.N)*int64(b.Dim) {
			return fmt.Errorf("bank: %d bytes for %d float16 vectors of %d", len(b.Data), b.N, b.Dim)
		}
		for i := 0; i < len(b.Data); i += 2 {
			if binary.LittleEndian.Uint16(b.Data[i:])&0x7c00 == 0x7c00 {
				return fmt.Errorf("bank: value %d is not finite", i/2)
			}
		}
	default:
		return fmt.Errorf("bank: unknown storage %q", b.Storage)
	}
	return nil
}

// searcher computes the cosine similarity of a query with every bank
// vector, reusing its buffers.
type searcher struct {
	bank *Bank
	dots RowDots
	unit []float32
	q7   []int8
	qw   []uint64 // the packed query of the portable int8 search
	raw  []int32  // the int8 dot products of dots.Int8
	sims []float32
}

func newSearcher(b *Bank, dots RowDots) *searcher {
	if b.Storage == StorageInt8 {
		b.prepareOnce.Do(func() {
			b.rowSums = make([]int32, b.N)
			for i := range b.rowSums {
				for _, v := range asInt8(b.Data[i*b.Dim : (i+1)*b.Dim]) {
					b.rowSums[i] += int32(v)
				}
			}
		})
	}
	if b.Storage == StorageFloat16 && (dots.Half == nil || b.halves() == nil) {
		dots.Half = nil
		b.decodeOnce.Do(func() {
			b.decoded = make([]float32, b.N*b.Dim)
			for i := range b.decoded {
				b.decoded[i] = half.ToFloat32(binary.LittleEndian.Uint16(b.Data[2*i:]))
			}
		})
	}
	s := &searcher{bank: b, dots: dots, unit: make([]float32, b.Dim), sims: make([]float32, b.N)}
	if b.Storage == StorageInt8 {
		s.q7 = make([]int8, b.Dim)
		if dots.Int8 != nil {
			s.raw = make([]int32, b.N)
		} else {
			s.qw = make([]uint64, (b.Dim+3)/4)
		}
	}
	return s
}

// similarities fills s.sims with the cosine similarity of f to every bank
// vector.
func (s *searcher) similarities(f []float32) error {
	b := s.bank
	if err := checkFeatures(f, b.Dim); err != nil {
		return err
	}
	for _, v := range f {
		if !finite(float64(v)) {
			return fmt.Errorf("ood: feature is %v: %w", v, ErrNonFinite)
		}
	}
	normalize(s.unit, f)
	if b.Storage == StorageFloat16 {
		if s.dots.Half != nil {
			s.dots.Half(s.sims, s.unit, b.halves())
			return nil
		}
		if s.dots.Float != nil {
			s.dots.Float(s.sims, s.unit, b.decoded)
			return nil
		}
		for i := range s.sims {
			s.sims[i] = vec.Dot(s.unit, b.decoded[i*b.Dim:(i+1)*b.Dim])
		}
		return nil
	}
	qs := quantizeInt7(s.q7, s.unit)
	if s.dots.Int8 != nil {
		s.dots.Int8(s.raw, s.q7, asInt8(b.Data))
		for i, dot := range s.raw {
			s.sims[i] = float32(dot) * qs * b.Scales[i]
		}
		return nil
	}
	// dotInt7 sums (b+64)(v+64); subtract the offset terms to get Σ b·v.
	offset := int64(int7Offset)*int64(packQuery7(s.qw, s.q7)) + int7Offset*int7Offset*int64(b.Dim)
	for i := range s.sims {
		dot := int64(dotInt7(s.qw, b.Data[i*b.Dim:(i+1)*b.Dim])) - int7Offset*int64(b.rowSums[i]) - offset
		s.sims[i] = float32(dot) * qs * b.Scales[i]
	}
	return nil
}

// halves views a float16 bank's bytes as the uint16 values they encode,
// or returns nil where the bytes cannot be viewed so (a big-endian machine,
// an odd address).
func (b *Bank) halves() []uint16 {
	if len(b.Data) < 2 || binary.NativeEndian.Uint16([]byte{1, 0}) != 1 || uintptr(unsafe.Pointer(&b.Data[0]))%2 != 0 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b.Data[0])), len(b.Data)/2)
}

// distance turns a cosine similarity of unit vectors into their L2 distance.
func distance(sim float32) float32 {
	return float32(math.Sqrt(float64(max(0, 2-2*sim))))
}

// radii returns, for every bank vector, the distance to its k-th nearest
// other bank vector.
func (b *Bank) radii(k int, dots RowDots) []float32 {
	s := newSearcher(b, dots)
	top := make([]float32, k)
	r := make([]float32, b.N)
	vec := make([]float32, b.Dim)
	for i := range r {
		b.vector(vec, i)
		_ = s.similarities(vec)
		s.sims[i] = float32(math.Inf(-1))
		r[i] = distance(kthLargest(top, s.sims))
	}
	return r
}

// vector writes bank vector i as float32 into dst.
func (b *Bank) vector(dst []float32, i int) {
	if b.Storage == StorageFloat16 {
		for j := range dst[:b.Dim] {
			dst[j] = half.ToFloat32(binary.LittleEndian.Uint16(b.Data[2*(i*b.Dim+j):]))
		}
		return
	}
	for j, q := range asInt8(b.Data[i*b.Dim : (i+1)*b.Dim]) {
		dst[j] = float32(q) * b.Scales[i]
	}
}

// kthLargest returns the len(top)-th largest value of v, using top as a
// descending buffer. Most values fail the first comparison, so a pass costs
// little more than reading v.
func kthLargest(top, v []float32) float32 {
	k := len(top)
	for i := range top {
		top[i] = float32(math.Inf(-1))
	}
	for _, x := range v {
		if x <= top[k-1] {
			continue
		}
		j := k - 1
		for j > 0 && top[j-1] < x {
			top[j] = top[j-1]
			j--
		}
		top[j] = x
	}
	return top[k-1]
}

// normalize writes v/‖v‖ into dst (zeros for a zero vector).
func normalize(dst, v []float32) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		clear(dst)
		return
	}
	inv := float32(1 / math.Sqrt(ss))
	for i, x := range v {
		dst[i] = x * inv
	}
}

// quantizeInt7 writes v symmetrically quantized to [−63, 63] into dst and
// returns the scale.
func quantizeInt7(dst []int8, v []float32) float32 {
	var m float32
	for _, x := range v {
		m = max(m, x, -x)
	}
	if m == 0 {
		clear(dst)
		return 0
	}
	inv := int7Max / m
	for i, x := range v {
		dst[i] = int8(max(-int7Max, min(int7Max, math.Round(float64(x*inv)))))
	}
	return m / int7Max
}
