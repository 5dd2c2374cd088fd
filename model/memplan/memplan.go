// Package memplan places the intermediate tensors of a graph in one arena.
//
// Each buffer lives from the operator that first touches it to the one that
// last reads it; buffers whose lifetimes do not overlap may share bytes. The
// placement is greedy, as in TFLite Micro's greedy planner: largest buffers
// first, each at the lowest offset where it does not collide with an
// already placed buffer that is alive at the same time. Peak memory then
// follows the largest live set rather than the sum of all tensors.
package memplan

import (
	"fmt"
	"sort"
)

// Align is the alignment, in bytes, of every placed buffer: a cache line,
// enough for any element type and for vector loads.
const Align = 64

// Buffer is one tensor to place: its size and the first and last operator
// (inclusive, in execution order) during which it must hold its value.
type Buffer struct {
	Size        int
	First, Last int
}

// Plan is where each buffer goes and how large the arena must be.
type Plan struct {
	// Offsets[i] is the arena offset of buffer i; a multiple of Align.
	Offsets []int
	// Size is the arena size in bytes.
	Size int
}

// Place assigns an offset to every buffer.
func Place(bufs []Buffer) (Plan, error) {
	order := make([]int, len(bufs))
	for i, b := range bufs {
		if b.Size < 0 || b.First < 0 || b.Last < b.First {
			return Plan{}, fmt.Errorf("buffer %d: invalid size %d or lifetime [%d, %d]", i, b.Size, b.First, b.Last)
		}
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return bufs[order[a]].Size > bufs[order[b]].Size })

	p := Plan{Offsets: make([]int, len(bufs))}
	type placed struct{ idx, offset, size int }
	var done, overlapping []placed
	for _, i := range order {
		b := bufs[i]
		size := (b.Size + Align - 1) &^ (Align - 1)
		overlapping = overlapping[:0]
		for _, d := range done {
			if o := bufs[d.idx]; o.First <= b.Last && b.First <= o.Last {
				overlapping = append(overlapping, d)
			}
		}
		sort.Slice(overlapping, func(x, y int) bool { return overlapping[x].offset < overlapping[y].offset })
		// Candidate offsets are 0 and the ends of the live neighbours, in
		// increasing order; the first gap that fits wins.
		offset := 0
		for _, d := range overlapping {
			if offset+size <= d.offset {
				break
			}
			offset = max(offset, d.offset+d.size)
		}
		p.Offsets[i] = offset
		p.Size = max(p.Size, offset+size)
		done = append(done, placed{idx: i, offset: offset, size: size})
	}
	return p, nil
}
