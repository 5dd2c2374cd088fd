package oracle

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Field numbers in the TFLite flatbuffer schema used by
// clampQuantizedDimension.
const (
	modelSubgraphs          = 2
	subgraphTensors         = 0
	tensorShape             = 0
	tensorQuantization      = 4
	quantQuantizedDimension = 6
)

var errFlatbuffer = errors.New("malformed flatbuffer")

// fbuf is a bounds-checked view of a flatbuffer.
type fbuf []byte

func (b fbuf) u32(p int) (int, error) {
	if p < 0 || p+4 > len(b) {
		return 0, fmt.Errorf("%w: u32 at %d", errFlatbuffer, p)
	}
	return int(binary.LittleEndian.Uint32(b[p:])), nil
}

func (b fbuf) u16(p int) (int, error) {
	if p < 0 || p+2 > len(b) {
		return 0, fmt.Errorf("%w: u16 at %d", errFlatbuffer, p)
	}
	return int(binary.LittleEndian.Uint16(b[p:])), nil
}

// field returns the absolute position of field i of the table at t, or 0 when
// the field is absent.
func (b fbuf) field(t, i int) (int, error) {
	so, err := b.u32(t)
	if err != nil {
		return 0, err
	}
	vt := t - int(int32(so))
	size, err := b.u16(vt)
	if err != nil {
		return 0, err
	}
	if 4+2*i+2 > size {
		return 0, nil
	}
	off, err := b.u16(vt + 4 + 2*i)
	if err != nil || off == 0 {
		return 0, err
	}
	return t + off, nil
}

// deref follows the offset stored in field i of table t.
func (b fbuf) deref(t, i int) (int, error) {
	p, err := b.field(t, i)
	if err != nil || p == 0 {
		return 0, err
	}
	off, err := b.u32(p)
	if err != nil {
		return 0, err
	}
	return p + off, nil
}

// tables returns the positions of the elements of the vector of tables at v.
func (b fbuf) tables(v int) ([]int, error) {
	n, err := b.u32(v)
	if err != nil {
		return nil, err
	}
	if n > len(b)/4 {
		return nil, fmt.Errorf("%w: vector of %d at %d", errFlatbuffer, n, v)
	}
	out := make([]int, n)
	for j := range out {
		e := v + 4 + 4*j
		off, err := b.u32(e)
		if err != nil {
			return nil, err
		}
		out[j] = e + off
	}
	return out, nil
}

// clampQuantizedDimension returns a copy of model in which every tensor whose
// quantized_dimension lies outside its shape gets quantized_dimension 0, and
// how many tensors it changed. Full TFLite rejects such tensors while TFLite
// Micro ignores the field for rank-1 biases; for those the change does not
// alter any arithmetic.
func clampQuantizedDimension(model []byte) ([]byte, int, error) {
	b := fbuf(append([]byte(nil), model...))
	root, err := b.u32(0)
	if err != nil {
		return nil, 0, err
	}
	subgraphs, err := b.deref(root, modelSubgraphs)
	if err != nil || subgraphs == 0 {
		return nil, 0, fmt.Errorf("subgraphs: %w", errors.Join(err, errFlatbuffer))
	}
	sgs, err := b.tables(subgraphs)
	if err != nil {
		return nil, 0, err
	}
	changed := 0
	for _, sg := range sgs {
		tv, err := b.deref(sg, subgraphTensors)
		if err != nil || tv == 0 {
			return nil, 0, fmt.Errorf("tensors: %w", errors.Join(err, errFlatbuffer))
		}
		tensors, err := b.tables(tv)
		if err != nil {
			return nil, 0, err
		}
		for _, t := range tensors {
			rank := 0
			if sv, err := b.deref(t, tensorShape); err != nil {
				return nil, 0, err
			} else if sv != 0 {
				if rank, err = b.u32(sv); err != nil {
					return nil, 0, err
				}
			}
			q, err := b.deref(t, tensorQuantization)
			if err != nil {
				return nil, 0, err
			}
			if q == 0 {
				continue
			}
			p, err := b.field(q, quantQuantizedDimension)
			if err != nil {
				return nil, 0, err
			}
			if p == 0 {
				continue
			}
			dim, err := b.u32(p)
			if err != nil {
				return nil, 0, err
			}
			if int(int32(dim)) >= rank && rank > 0 {
				binary.LittleEndian.PutUint32(b[p:], 0)
				changed++
			}
		}
	}
	return b, changed, nil
}
