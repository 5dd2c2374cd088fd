package train

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// Save writes the parameters as little-endian float32 values in a fixed
// order, so that fine-tuning can start from a trained network.
func (p *Params) Save(path string) error {
	var buf []byte
	for _, s := range p.slices() {
		for _, v := range s {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, buf, 0o644)
}

// LoadParams reads parameters written by Save.
func LoadParams(path string) (*Params, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := newParams()
	total := 0
	for _, s := range p.slices() {
		total += len(s)
	}
	if len(data) != 4*total {
		return nil, fmt.Errorf("%s: %d bytes, want %d", path, len(data), 4*total)
	}
	off := 0
	for _, s := range p.slices() {
		for i := range s {
			s[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
			off += 4
		}
	}
	return p, nil
}

// Clone returns a deep copy.
func (p *Params) Clone() *Params {
	c := newParams()
	for k, s := range p.slices() {
		copy(c.slices()[k], s)
	}
	return c
}
