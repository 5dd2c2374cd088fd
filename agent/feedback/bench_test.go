package feedback

import (
	"testing"
)

// BenchmarkDraw is the per-frame cost of the reservoir for an unflagged
// frame once the reservoir is full: most frames are passed over.
func BenchmarkDraw(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), Reservoir: 200, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	s.seen = 1_000_000
	b.ReportAllocs()
	for b.Loop() {
		s.Draw()
	}
}

// BenchmarkEncodeRecord is the encoding of a MobileNetV2-sized record
// (1,000 logits, 1,280 features) into the store's reused buffer.
func BenchmarkEncodeRecord(b *testing.B) {
	r := Record{AlertID: "01JEXAMPLEALERTID0000000000", Time: t0, Source: "cam0", Frame: "123456",
		Logits: make([]float32, 1000), Features: make([]float32, 1280)}
	for _, p := range []struct {
		name string
		p    Precision
	}{{"float32", Float32}, {"float16", Float16}} {
		b.Run(p.name, func(b *testing.B) {
			buf := make([]byte, 0, encodedSize(&r, p.p))
			b.ReportAllocs()
			b.SetBytes(int64(encodedSize(&r, p.p)))
			for b.Loop() {
				buf, _ = appendRecord(buf[:0], &r, p.p)
			}
		})
	}
}

// BenchmarkAddFlagged includes the atomic write (temporary file, fsync,
// rename, directory fsync), which dominates: flagged frames are rare.
func BenchmarkAddFlagged(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), MaxFlagged: 50, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	r := Record{AlertID: "a", Time: t0, Logits: make([]float32, 1000), Features: make([]float32, 1280)}
	ids := []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.AlertID = ids[i%len(ids)]
		i++
		if err := s.AddFlagged(r); err != nil {
			b.Fatal(err)
		}
	}
}
