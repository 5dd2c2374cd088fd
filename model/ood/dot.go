package ood

import (
	"encoding/binary"
	"unsafe"
)

// asInt8 views bytes as int8 values without copying.
func asInt8(b []byte) []int8 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
}

// Integer dot products of int8 bank rows with a query, four products per
// 64-bit multiply. Values are 7-bit, in [−63, 63], and are offset by 64 to
// [1, 127]. A row's four offset bytes go into the 16-bit lanes of a word
// b = Σ bᵢ·2^(16i), the query's four into a word with the lanes reversed,
// q = Σ qᵢ·2^(16(3−i)). In the product the lane at bit 48 collects exactly
// Σ bᵢqᵢ: every partial product is below 2^14, the at most four of them
// that share a lane sum to below 2^16, so no lower lane carries into it.
// Go has no portable SIMD; this is more than twice as fast as a loop of
// int8 multiplies and as fast as float32 with a quarter of the memory.
const (
	int7Max    = 63
	int7Offset = 64
)

// packQuery7 writes the query's offset 7-bit values, four per word with
// the lanes reversed, and returns their plain sum Σ v.
func packQuery7(dst []uint64, v []int8) int32 {
	var sum int32
	for k := range dst {
		var w uint64
		for i := 0; i < 4; i++ {
			x := int7Offset // padding beyond the end: a zero value
			if j := 4*k + i; j < len(v) {
				x = int(v[j]) + int7Offset
				sum += int32(v[j])
			}
			w |= uint64(x) << (16 * (3 - i))
		}
		dst[k] = w
	}
	return sum
}

// dotInt7 returns Σ (bᵢ+64)(vᵢ+64) over a row of len(qw)·4 values (a
// shorter row is padded with zero values by the caller's bookkeeping: see
// searcher); b holds the row's int8 bytes.
func dotInt7(qw []uint64, b []byte) uint64 {
	var s0, s1 uint64
	k := 0
	full := len(b) / 8
	for ; k < full; k++ {
		w := binary.LittleEndian.Uint64(b[8*k:])
		w = (w ^ 0x4040404040404040) & 0x7f7f7f7f7f7f7f7f // bᵢ + 64 for bᵢ in [−64, 63]
		lo, hi := w&0xffffffff, w>>32
		lo = (lo | lo<<16) & 0x0000ffff0000ffff
		hi = (hi | hi<<16) & 0x0000ffff0000ffff
		lo = (lo | lo<<8) & 0x00ff00ff00ff00ff
		hi = (hi | hi<<8) & 0x00ff00ff00ff00ff
		s0 += (lo * qw[2*k]) >> 48
		s1 += (hi * qw[2*k+1]) >> 48
	}
	// The tail, at most seven values, one lane at a time.
	for j := 8 * full; j < len(b); j++ {
		lane := uint64(qw[j/4]>>(16*(3-j%4))) & 0xffff
		s0 += uint64(int64(int8(b[j]))+int7Offset) * lane
	}
	return s0 + s1
}
