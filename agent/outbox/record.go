package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"time"
	"unicode/utf8"
)

// Record format, version 1; all integers are varints except the checksum:
//
//	version   byte (1)
//	flags     byte (bit 0: retained)
//	qos       byte (0, 1 or 2)
//	created   varint seconds since 1970, uvarint nanoseconds
//	id        uvarint length, bytes
//	topic     uvarint length, bytes
//	payload   uvarint length, bytes
//	checksum  CRC-32C of everything before it, 4 bytes big-endian
//
// The decoder accepts only the encoding the encoder produces (minimal
// varints, no trailing bytes), so a record decodes to one message and back.
const (
	recordVersion = 1
	flagRetained  = 1 << 0
	maxTopicLen   = 65535 // MQTT's limit on a topic name
)

var (
	crcTable = crc32.MakeTable(crc32.Castagnoli)

	// errRecord is wrapped by every decoding error.
	errRecord = errors.New("malformed record")
)

// validate reports why msg cannot be queued. Rejecting a message here
// keeps it from becoming one that the broker refuses forever at the head
// of the queue.
func validate(msg *Message) error {
	switch {
	case msg.Topic == "":
		return errors.New("empty topic")
	case len(msg.Topic) > maxTopicLen:
		return fmt.Errorf("topic longer than %d bytes", maxTopicLen)
	case !utf8.ValidString(msg.Topic):
		return errors.New("topic is not valid UTF-8")
	case strings.ContainsAny(msg.Topic, "+#\x00"):
		return fmt.Errorf("topic %q contains a wildcard or NUL", msg.Topic)
	case msg.QoS > 2:
		return fmt.Errorf("qos %d is not 0, 1 or 2", msg.QoS)
	}
	return nil
}

// encode appends the record for msg to dst.
func encode(dst []byte, msg *Message) ([]byte, error) {
	if err := validate(msg); err != nil {
		return dst, err
	}
	start := len(dst)
	var flags byte
	if msg.Retained {
		flags |= flagRetained
	}
	dst = append(dst, recordVersion, flags, msg.QoS)
	dst = binary.AppendVarint(dst, msg.Created.Unix())
	dst = binary.AppendUvarint(dst, uint64(msg.Created.Nanosecond()))
	for _, field := range []string{msg.ID, msg.Topic} {
		dst = binary.AppendUvarint(dst, uint64(len(field)))
		dst = append(dst, field...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(msg.Payload)))
	dst = append(dst, msg.Payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable)), nil
}

// decode parses a record. The message does not share memory with b, which
// bbolt owns only for the life of a transaction.
func decode(b []byte) (Message, error) {
	var msg Message
	if len(b) < 4 {
		return msg, fmt.Errorf("%w: %d bytes is too short", errRecord, len(b))
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, crcTable); got != sum {
		return msg, fmt.Errorf("%w: checksum %08x, want %08x", errRecord, got, sum)
	}
	d := decoder{b: body}
	if v := d.byte(); v != recordVersion && d.err == nil {
		return msg, fmt.Errorf("%w: unknown version %d", errRecord, v)
	}
	flags := d.byte()
	msg.QoS = d.byte()
	sec := d.varint()
	nsec := d.uvarint()
	msg.ID = string(d.bytes())
	msg.Topic = string(d.bytes())
	if p := d.bytes(); len(p) > 0 {
		msg.Payload = append([]byte(nil), p...)
	}
	switch {
	case d.err != nil:
		return Message{}, fmt.Errorf("%w: %v", errRecord, d.err)
	case len(d.b) != 0:
		return Message{}, fmt.Errorf("%w: %d trailing bytes", errRecord, len(d.b))
	case flags&^flagRetained != 0:
		return Message{}, fmt.Errorf("%w: unknown flags %#x", errRecord, flags)
	case nsec >= uint64(time.Second):
		return Message{}, fmt.Errorf("%w: %d nanoseconds", errRecord, nsec)
	}
	msg.Retained = flags&flagRetained != 0
	msg.Created = time.Unix(sec, int64(nsec)).UTC()
	if err := validate(&msg); err != nil {
		return Message{}, fmt.Errorf("%w: %v", errRecord, err)
	}
	return msg, nil
}

// decoder reads fields from b, remembering the first error so that the
// caller checks once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	return minimalVarint(d, binary.Uvarint, binary.AppendUvarint, "uvarint")
}

func (d *decoder) varint() int64 {
	return minimalVarint(d, binary.Varint, binary.AppendVarint, "varint")
}

// minimalVarint reads a varint that must be in its shortest encoding, so
// that every record has one spelling.
func minimalVarint[T int64 | uint64](d *decoder, read func([]byte) (T, int), encode func([]byte, T) []byte, name string) T {
	v, n := read(d.b)
	if n <= 0 {
		d.fail("bad %s", name)
		return 0
	}
	if n != len(encode(nil, v)) {
		d.fail("non-minimal %s", name)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length %d exceeds the %d bytes left", n, len(d.b))
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}
