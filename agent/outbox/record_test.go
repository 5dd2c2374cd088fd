package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
	"time"
)

func sameMessage(a, b Message) bool {
	return a.ID == b.ID && a.Topic == b.Topic && bytes.Equal(a.Payload, b.Payload) &&
		a.QoS == b.QoS && a.Retained == b.Retained && a.Created.Equal(b.Created)
}

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
	}{
		{"typical", Message{ID: "a1", Topic: "ood/cam/alert", Payload: []byte(`{"score":3.2}`), QoS: 1,
			Created: time.Date(2025, 3, 4, 5, 6, 7, 890, time.UTC)}},
		{"retained qos2", Message{Topic: "ood/cam/status", QoS: 2, Retained: true, Created: time.Unix(1, 0)}},
		{"zero time", Message{ID: "z", Topic: "t"}},
		{"before 1970", Message{Topic: "t", Created: time.Date(1960, 1, 1, 0, 0, 0, 999999999, time.UTC)}},
		{"binary payload", Message{Topic: "t", Payload: bytes.Repeat([]byte{0, 0xff}, 70000)}},
		{"local time", Message{Topic: "t", Created: time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := encode(nil, &tt.msg)
			if err != nil {
				t.Fatalf("encode() error: %v", err)
			}
			got, err := decode(rec)
			if err != nil {
				t.Fatalf("decode(encode()) error: %v", err)
			}
			if !sameMessage(got, tt.msg) {
				t.Errorf("decode(encode(%+v)) = %+v", tt.msg, got)
			}
			if tt.msg.Created.IsZero() != got.Created.IsZero() {
				t.Errorf("Created.IsZero() = %v, want %v", got.Created.IsZero(), tt.msg.Created.IsZero())
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want string
	}{
		{"empty topic", Message{}, "empty topic"},
		{"plus", Message{Topic: "ood/+/alert"}, "wildcard"},
		{"hash", Message{Topic: "ood/#"}, "wildcard"},
		{"nul", Message{Topic: "a\x00b"}, "NUL"},
		{"utf8", Message{Topic: "a\xffb"}, "UTF-8"},
		{"long", Message{Topic: strings.Repeat("a", 65536)}, "longer than"},
		{"qos", Message{Topic: "t", QoS: 3}, "qos 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := encode(nil, &tt.msg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("encode(%s) error = %v, want one containing %q", tt.name, err, tt.want)
			}
		})
	}
}

// withCRC appends a valid checksum so that a test reaches the field checks.
func withCRC(body []byte) []byte {
	return binary.BigEndian.AppendUint32(body, crc32.Checksum(body, crcTable))
}

func TestDecodeRejects(t *testing.T) {
	good, err := encode(nil, &Message{ID: "i", Topic: "t", Payload: []byte("p")})
	if err != nil {
		t.Fatal(err)
	}
	body := good[:len(good)-4]
	flipped := append([]byte(nil), good...)
	flipped[5] ^= 1
	tests := []struct {
		name string
		rec  []byte
		want string
	}{
		{"nil", nil, "too short"},
		{"checksum", flipped, "checksum"},
		{"empty body", withCRC(nil), "truncated"},
		{"version", withCRC(append([]byte{2}, body[1:]...)), "unknown version 2"},
		{"flags", withCRC(append([]byte{1, 0x80}, body[2:]...)), "unknown flags"},
		{"qos", withCRC(append([]byte{1, 0, 3}, body[3:]...)), "qos 3"},
		{"trailing", withCRC(append(append([]byte(nil), body...), 0)), "1 trailing bytes"},
		{"truncated", withCRC(body[:len(body)-1]), "exceeds"},
		{"nanoseconds", withCRC([]byte{1, 0, 0, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0, 1, 't', 0}), "nanoseconds"},
		{"non-minimal", withCRC([]byte{1, 0, 0, 0, 0x80, 0x00, 0, 1, 't', 0}), "non-minimal"},
		{"huge length", withCRC([]byte{1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}), "exceeds"},
		{"empty topic", withCRC([]byte{1, 0, 0, 0, 0, 0, 0, 0}), "empty topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(tt.rec)
			if !errors.Is(err, errRecord) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("decode(%x) error = %v, want a malformed record error containing %q", tt.rec, err, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, m := range []Message{
		{ID: "a", Topic: "ood/cam/alert", Payload: []byte("{}"), QoS: 1, Created: time.Unix(1700000000, 5)},
		{Topic: "t", Retained: true, QoS: 2},
	} {
		rec, err := encode(nil, &m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(rec)
	}
	f.Add([]byte{})
	f.Add(withCRC([]byte{1, 0, 0, 0, 0, 0, 1, 't', 0}))
	f.Fuzz(func(t *testing.T, rec []byte) {
		msg, err := decode(rec)
		if err != nil {
			return
		}
		// The format has one encoding per message.
		again, err := encode(nil, &msg)
		if err != nil {
			t.Fatalf("encode(decode(%x)) error: %v", rec, err)
		}
		if !bytes.Equal(again, rec) {
			t.Fatalf("encode(decode(%x)) = %x", rec, again)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("id", "ood/cam/alert", []byte("payload"), byte(1), true, int64(1700000000), int64(12345))
	f.Add("", "t", []byte(nil), byte(0), false, int64(-62135596800), int64(0))
	f.Fuzz(func(t *testing.T, id, topic string, payload []byte, qos byte, retained bool, sec, nsec int64) {
		msg := Message{ID: id, Topic: topic, Payload: payload, QoS: qos, Retained: retained, Created: time.Unix(sec, nsec)}
		rec, err := encode(nil, &msg)
		if err != nil {
			if validate(&msg) == nil {
				t.Fatalf("encode(%+v) error %v for a valid message", msg, err)
			}
			return
		}
		got, err := decode(rec)
		if err != nil {
			t.Fatalf("decode(encode(%+v)) error: %v", msg, err)
		}
		if !sameMessage(got, msg) {
			t.Fatalf("decode(encode(%+v)) = %+v", msg, got)
		}
	})
}
