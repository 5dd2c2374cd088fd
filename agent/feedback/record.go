package feedback

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/ood-agent/ood-agent/internal/half"
)

// Precision is how a record stores logits and features.
type Precision uint8

// The storage precisions.
const (
	Float32 Precision = 0
	Float16 Precision = 1
)

// Record is one frame the store keeps: identity, what the model said, and
// the vectors adapt retrains on.
type Record struct {
	// AlertID is the alert's id for a flagged frame; the store names
	// unflagged samples itself.
	AlertID string
	Time    time.Time
	// Source and Frame identify the frame (the source's name and its
	// frame number or file name).
	Source string
	Frame  string
	// Model identifies the model that produced the vectors (its SHA-256):
	// features are only meaningful to the model that computed them.
	Model string
	// Class is the predicted class index; Label its name when known.
	Class     int
	Label     string
	Score     float64
	Threshold float64
	Logits    []float32
	Features  []float32
	// JPEG is the evidence image, stored next to the record; nil when
	// evidence is off.
	JPEG []byte
}

// The record file format, all integers little-endian:
//
//	"OODF" | version u8 | precision u8 | time unix-nano i64 | class i32 |
//	score f64 | threshold f64 | 5 × (len u16, bytes): alert id, source,
//	frame, label, model | logits n u32 | features n u32 | values | crc32 u32
//
// The CRC (IEEE) covers everything before it, so a torn write is detected.
const (
	recordMagic   = "OODF"
	recordVersion = 1
	headerBytes   = 4 + 1 + 1 + 8 + 4 + 8 + 8
	// maxVector bounds logits and features counts so that a damaged
	// length cannot ask for gigabytes.
	maxVector = 1 << 20
	maxString = 1 << 10
)

var errCorrupt = errors.New("corrupt record")

func (p Precision) width() int {
	if p == Float16 {
		return 2
	}
	return 4
}

// encodedSize is the size of r's record file at precision p.
func encodedSize(r *Record, p Precision) int {
	return headerBytes + 10 + len(r.AlertID) + len(r.Source) + len(r.Frame) + len(r.Label) + len(r.Model) +
		8 + (len(r.Logits)+len(r.Features))*p.width() + 4
}

// appendRecord appends r's record encoding to buf; with a buffer of
// enough capacity it does not allocate.
func appendRecord(buf []byte, r *Record, p Precision) ([]byte, error) {
	for _, s := range [...]string{r.AlertID, r.Source, r.Frame, r.Label, r.Model} {
		if len(s) > maxString {
			return buf, fmt.Errorf("record: string of %d bytes, the limit is %d", len(s), maxString)
		}
	}
	if len(r.Logits) > maxVector || len(r.Features) > maxVector {
		return buf, fmt.Errorf("record: %d logits and %d features, the limit is %d each", len(r.Logits), len(r.Features), maxVector)
	}
	start := len(buf)
	le := binary.LittleEndian
	buf = append(buf, recordMagic...)
	buf = append(buf, recordVersion, byte(p))
	buf = le.AppendUint64(buf, uint64(r.Time.UnixNano()))
	buf = le.AppendUint32(buf, uint32(int32(r.Class)))
	buf = le.AppendUint64(buf, math.Float64bits(r.Score))
	buf = le.AppendUint64(buf, math.Float64bits(r.Threshold))
	for _, s := range [...]string{r.AlertID, r.Source, r.Frame, r.Label, r.Model} {
		buf = le.AppendUint16(buf, uint16(len(s)))
		buf = append(buf, s...)
	}
	buf = le.AppendUint32(buf, uint32(len(r.Logits)))
	buf = le.AppendUint32(buf, uint32(len(r.Features)))
	buf = appendValues(buf, r.Logits, p)
	buf = appendValues(buf, r.Features, p)
	return le.AppendUint32(buf, crc32.ChecksumIEEE(buf[start:])), nil
}

func appendValues(buf []byte, v []float32, p Precision) []byte {
	le := binary.LittleEndian
	for _, x := range v {
		if p == Float16 {
			buf = le.AppendUint16(buf, half.FromFloat32(x))
		} else {
			buf = le.AppendUint32(buf, math.Float32bits(x))
		}
	}
	return buf
}

// decodeRecord parses a record file. It never panics on damaged input:
// every length is checked against the data before use.
func decodeRecord(data []byte) (Record, error) {
	var r Record
	if len(data) < headerBytes+10+8+4 || string(data[:4]) != recordMagic {
		return r, fmt.Errorf("%w: no record header", errCorrupt)
	}
	le := binary.LittleEndian
	body, sum := data[:len(data)-4], le.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return r, fmt.Errorf("%w: checksum mismatch (torn write?)", errCorrupt)
	}
	if data[4] != recordVersion {
		return r, fmt.Errorf("%w: version %d, want %d", errCorrupt, data[4], recordVersion)
	}
	p := Precision(data[5])
	if p != Float32 && p != Float16 {
		return r, fmt.Errorf("%w: unknown precision %d", errCorrupt, p)
	}
	r.Time = time.Unix(0, int64(le.Uint64(data[6:]))).UTC()
	r.Class = int(int32(le.Uint32(data[14:])))
	r.Score = math.Float64frombits(le.Uint64(data[18:]))
	r.Threshold = math.Float64frombits(le.Uint64(data[26:]))
	rest := body[headerBytes:]
	var strs [5]string
	for i := range strs {
		if len(rest) < 2 {
			return r, fmt.Errorf("%w: truncated string", errCorrupt)
		}
		n := int(le.Uint16(rest))
		if n > maxString || len(rest) < 2+n {
			return r, fmt.Errorf("%w: string length %d", errCorrupt, n)
		}
		strs[i], rest = string(rest[2:2+n]), rest[2+n:]
	}
	r.AlertID, r.Source, r.Frame, r.Label, r.Model = strs[0], strs[1], strs[2], strs[3], strs[4]
	if len(rest) < 8 {
		return r, fmt.Errorf("%w: truncated vector lengths", errCorrupt)
	}
	nl, nf := int(le.Uint32(rest)), int(le.Uint32(rest[4:]))
	rest = rest[8:]
	if nl > maxVector || nf > maxVector || len(rest) != (nl+nf)*p.width() {
		return r, fmt.Errorf("%w: %d logits and %d features do not fit %d bytes", errCorrupt, nl, nf, len(rest))
	}
	r.Logits, rest = readValues(rest, nl, p)
	r.Features, _ = readValues(rest, nf, p)
	return r, nil
}

func readValues(data []byte, n int, p Precision) ([]float32, []byte) {
	if n == 0 {
		return nil, data
	}
	le := binary.LittleEndian
	v := make([]float32, n)
	for i := range v {
		if p == Float16 {
			v[i] = half.ToFloat32(le.Uint16(data[2*i:]))
		} else {
			v[i] = math.Float32frombits(le.Uint32(data[4*i:]))
		}
	}
	return v, data[n*p.width():]
}
