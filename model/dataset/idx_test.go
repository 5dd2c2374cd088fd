package dataset

import (
	"bytes"
	"compress/gzip"
	"errors"
	"testing"
)

func idxBytes(rank byte, dims []uint32, payload []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 8, rank})
	for _, d := range dims {
		b.Write([]byte{byte(d >> 24), byte(d >> 16), byte(d >> 8), byte(d)})
	}
	b.Write(payload)
	return b.Bytes()
}

func TestParseIdx(t *testing.T) {
	plain := idxBytes(3, []uint32{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(plain)
	w.Close()
	tests := []struct {
		name    string
		data    []byte
		rank    int
		wantErr bool
	}{
		{"plain", plain, 3, false},
		{"gzip", gz.Bytes(), 3, false},
		{"wrong rank", plain, 1, true},
		{"truncated", plain[:len(plain)-1], 3, true},
		{"bad magic", append([]byte{1}, plain[1:]...), 3, true},
		{"float type", append([]byte{0, 0, 0x0d}, plain[3:]...), 3, true},
		{"zero dim", idxBytes(1, []uint32{0}, nil), 1, true},
		{"huge dim", idxBytes(3, []uint32{1 << 20, 1 << 20, 1 << 20}, nil), 3, true},
		{"empty", nil, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dims, data, err := ParseIdx(bytes.NewReader(tt.data), tt.rank)
			if tt.wantErr {
				if !errors.Is(err, ErrFormat) {
					t.Errorf("ParseIdx = %v, want ErrFormat", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseIdx: %v", err)
			}
			if len(dims) != 3 || dims[0] != 2 || len(data) != 8 || data[7] != 8 {
				t.Errorf("ParseIdx = %v, %v", dims, data)
			}
		})
	}
}

func FuzzParseIdx(f *testing.F) {
	f.Add(idxBytes(3, []uint32{1, 2, 2}, []byte{1, 2, 3, 4}), 3)
	f.Add(idxBytes(1, []uint32{3}, []byte{1, 2, 3}), 1)
	f.Fuzz(func(t *testing.T, data []byte, rank int) {
		if rank < 1 || rank > 4 {
			return
		}
		dims, payload, err := ParseIdx(bytes.NewReader(data), rank)
		if err != nil {
			return
		}
		n := 1
		for _, d := range dims {
			n *= d
		}
		if n != len(payload) {
			t.Fatalf("dims %v but %d bytes", dims, len(payload))
		}
	})
}
