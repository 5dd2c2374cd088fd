package feedback

import (
	"bytes"
	"testing"
)

// FuzzDecodeRecord checks that no damaged file crashes the store's open,
// and that whatever decodes re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	for i, p := range []Precision{Float32, Float16} {
		r := flagged(i)
		data, _ := appendRecord(nil, &r, p)
		f.Add(data)
		f.Add(data[:len(data)-1])
	}
	f.Add([]byte("OODF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRecord(data)
		if err != nil {
			return
		}
		again, err := appendRecord(nil, &r, Precision(data[5]))
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		if Precision(data[5]) == Float32 && !bytes.Equal(again, data) {
			t.Fatalf("round trip changed the record:\n%x\n%x", data, again)
		}
	})
}
