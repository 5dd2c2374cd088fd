package outbox

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkPutAck measures the durable round trip of one message: Put,
// Peek and Ack, each a synced transaction except Peek.
func BenchmarkPutAck(b *testing.B) {
	o, err := Open(filepath.Join(b.TempDir(), "q.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	m := Message{ID: "bench", Topic: "ood/cam/alert", Payload: bytes.Repeat([]byte("x"), 512), QoS: 1}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.Put(m); err != nil {
			b.Fatal(err)
		}
		e, err := o.Peek(1)
		if err != nil || len(e) != 1 {
			b.Fatalf("Peek(1) = %v, %v", e, err)
		}
		if err := o.Ack(e[0].Seq); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkEncode(b *testing.B) {
	m := Message{ID: "bench", Topic: "ood/cam/alert", Payload: bytes.Repeat([]byte("x"), 512), QoS: 1, Created: time.Now()}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = encode(buf[:0], &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	m := Message{ID: "bench", Topic: "ood/cam/alert", Payload: bytes.Repeat([]byte("x"), 512), QoS: 1, Created: time.Now()}
	rec, err := encode(nil, &m)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode(rec); err != nil {
			b.Fatal(err)
		}
	}
}
