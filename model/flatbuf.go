package model

import (
	"encoding/binary"
	"fmt"
	"math"
)

// reader decodes flatbuffer tables from an untrusted byte slice. Every offset
// is bounds-checked; the first problem is kept in err and every later read
// returns a zero value, so decoding code can read a whole table and check the
// error once. Nothing here panics on hostile input.
type reader struct {
	buf []byte
	err error
	// budget bounds how many elements all vectors together may claim, so a
	// forged length cannot make the decoder allocate more than the file
	// justifies.
	budget int
}

// table is a decoded flatbuffer table position: its start and its vtable.
type table struct {
	pos    int
	vtable int
	vtLen  int // vtable size in bytes
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *reader) check(off, n int, what string) bool {
	if r.err != nil {
		return false
	}
	if off < 0 || n < 0 || off > len(r.buf) || len(r.buf)-off < n {
		r.fail("%s: offset %d size %d outside file of %d bytes", what, off, n, len(r.buf))
		return false
	}
	return true
}

func (r *reader) u8(off int) uint8 {
	if !r.check(off, 1, "byte") {
		return 0
	}
	return r.buf[off]
}

func (r *reader) u16(off int) uint16 {
	if !r.check(off, 2, "uint16") {
		return 0
	}
	return binary.LittleEndian.Uint16(r.buf[off:])
}

func (r *reader) u32(off int) uint32 {
	if !r.check(off, 4, "uint32") {
		return 0
	}
	return binary.LittleEndian.Uint32(r.buf[off:])
}

func (r *reader) u64(off int) uint64 {
	if !r.check(off, 8, "uint64") {
		return 0
	}
	return binary.LittleEndian.Uint64(r.buf[off:])
}

// tableAt decodes the table whose position is at off.
func (r *reader) tableAt(off int, what string) table {
	if !r.check(off, 4, what) {
		return table{}
	}
	soff := int32(r.u32(off))
	vt := off - int(soff)
	if !r.check(vt, 4, what+" vtable") {
		return table{}
	}
	vtLen := int(r.u16(vt))
	objLen := int(r.u16(vt + 2))
	if vtLen < 4 || vtLen%2 != 0 || !r.check(vt, vtLen, what+" vtable") {
		r.fail("%s: bad vtable size %d", what, vtLen)
		return table{}
	}
	if !r.check(off, objLen, what+" object") {
		return table{}
	}
	return table{pos: off, vtable: vt, vtLen: vtLen}
}

// indirect follows the uoffset stored at off.
func (r *reader) indirect(off int, what string) int {
	u := r.u32(off)
	if r.err != nil {
		return 0
	}
	target := off + int(u)
	if u > math.MaxInt32 || !r.check(target, 0, what) {
		r.fail("%s: offset %d out of range", what, u)
		return 0
	}
	return target
}

// field returns the absolute position of field i of t, or 0 when absent.
func (r *reader) field(t table, i int) int {
	if r.err != nil || t.vtLen == 0 {
		return 0
	}
	slot := 4 + 2*i
	if slot+2 > t.vtLen {
		return 0
	}
	rel := int(r.u16(t.vtable + slot))
	if rel == 0 {
		return 0
	}
	return t.pos + rel
}

func (r *reader) fieldU8(t table, i int, def uint8) uint8 {
	if p := r.field(t, i); p != 0 {
		return r.u8(p)
	}
	return def
}

func (r *reader) fieldBool(t table, i int, def bool) bool {
	if p := r.field(t, i); p != 0 {
		return r.u8(p) != 0
	}
	return def
}

func (r *reader) fieldI32(t table, i int, def int32) int32 {
	if p := r.field(t, i); p != 0 {
		return int32(r.u32(p))
	}
	return def
}

func (r *reader) fieldU32(t table, i int, def uint32) uint32 {
	if p := r.field(t, i); p != 0 {
		return r.u32(p)
	}
	return def
}

func (r *reader) fieldU64(t table, i int, def uint64) uint64 {
	if p := r.field(t, i); p != 0 {
		return r.u64(p)
	}
	return def
}

func (r *reader) fieldF32(t table, i int, def float32) float32 {
	if p := r.field(t, i); p != 0 {
		return math.Float32frombits(r.u32(p))
	}
	return def
}

// fieldTable returns the sub-table in field i and whether it is present.
func (r *reader) fieldTable(t table, i int, what string) (table, bool) {
	p := r.field(t, i)
	if p == 0 {
		return table{}, false
	}
	return r.tableAt(r.indirect(p, what), what), r.err == nil
}

// vector returns the start and length of the vector in field i, with elem
// bytes per element; ok is false when the field is absent.
func (r *reader) vector(t table, i, elem int, what string) (start, n int, ok bool) {
	p := r.field(t, i)
	if p == 0 {
		return 0, 0, false
	}
	v := r.indirect(p, what)
	ln := int(r.u32(v))
	if r.err != nil {
		return 0, 0, false
	}
	if ln < 0 || ln > (len(r.buf)-v-4)/max(elem, 1) {
		r.fail("%s: vector of %d elements does not fit in the file", what, ln)
		return 0, 0, false
	}
	r.budget -= ln
	if r.budget < 0 {
		r.fail("%s: file declares more elements than it can hold", what)
		return 0, 0, false
	}
	return v + 4, ln, true
}

func (r *reader) fieldBytes(t table, i int, what string) []byte {
	start, n, ok := r.vector(t, i, 1, what)
	if !ok {
		return nil
	}
	return r.buf[start : start+n : start+n]
}

func (r *reader) fieldString(t table, i int, what string) string {
	return string(r.fieldBytes(t, i, what))
}

func (r *reader) fieldInts(t table, i int, what string) []int {
	start, n, ok := r.vector(t, i, 4, what)
	if !ok {
		return nil
	}
	out := make([]int, n)
	for k := range out {
		out[k] = int(int32(binary.LittleEndian.Uint32(r.buf[start+4*k:])))
	}
	return out
}

func (r *reader) fieldInt64s(t table, i int, what string) []int64 {
	start, n, ok := r.vector(t, i, 8, what)
	if !ok {
		return nil
	}
	out := make([]int64, n)
	for k := range out {
		out[k] = int64(binary.LittleEndian.Uint64(r.buf[start+8*k:]))
	}
	return out
}

func (r *reader) fieldFloats(t table, i int, what string) []float32 {
	start, n, ok := r.vector(t, i, 4, what)
	if !ok {
		return nil
	}
	out := make([]float32, n)
	for k := range out {
		out[k] = math.Float32frombits(binary.LittleEndian.Uint32(r.buf[start+4*k:]))
	}
	return out
}

// tables decodes the vector of tables in field i, calling fn for each.
func (r *reader) tables(t table, i int, what string, fn func(k int, sub table)) int {
	start, n, ok := r.vector(t, i, 4, what)
	if !ok {
		return 0
	}
	for k := 0; k < n && r.err == nil; k++ {
		name := fmt.Sprintf("%s[%d]", what, k)
		sub := r.tableAt(r.indirect(start+4*k, name), name)
		if r.err != nil {
			return k
		}
		fn(k, sub)
	}
	return n
}
