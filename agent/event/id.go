package event

import (
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ood-agent/ood-agent/agent/clock"
)

// ErrInvalidID reports a string that is not a UUIDv7 in canonical form.
var ErrInvalidID = errors.New("event: invalid id")

// maxUnixMilli is the largest timestamp a UUIDv7 holds (48 bits).
const maxUnixMilli = 1<<48 - 1

// IDGenerator makes message ids: UUIDv7 (RFC 9562) in canonical lower-case
// form, e.g. "0192f3c4-5b6a-7c3d-9e0f-1a2b3c4d5e6f".
//
// The first 48 bits are the Unix time in milliseconds, so ids sort by time
// both as bytes and as strings. The next 12 bits are a counter that starts
// at a random value below 2048 in each new millisecond and is incremented
// for each further id in the same millisecond (RFC 9562's "fixed-length
// dedicated counter"); when it overflows, or when the clock goes back, the
// generator keeps counting on from the last millisecond it used. Ids from
// one generator are therefore strictly increasing whatever the clock does.
// The last 62 bits are random, from a ChaCha8 stream seeded by crypto/rand
// when the generator is made, which keeps ids from different runs of the
// same device, or from different devices, apart even when their clocks
// agree or have been reset.
//
// An IDGenerator is safe for concurrent use.
type IDGenerator struct {
	clock Clock

	mu     sync.Mutex
	rng    *rand.ChaCha8
	lastMS int64
	seq    uint16
}

// NewIDGenerator returns a generator that stamps ids made by New with c's
// time; nil means the system clock.
func NewIDGenerator(c Clock) *IDGenerator {
	var seed [32]byte
	// crypto/rand.Read never fails: it crashes the program instead.
	_, _ = crand.Read(seed[:])
	return newIDGenerator(c, seed)
}

func newIDGenerator(c Clock, seed [32]byte) *IDGenerator {
	if c == nil {
		c = clock.Real{}
	}
	return &IDGenerator{clock: c, rng: rand.NewChaCha8(seed), lastMS: -1}
}

// New returns a new id stamped with the generator's clock.
func (g *IDGenerator) New() string {
	return g.NewAt(g.clock.Now())
}

// NewAt returns a new id stamped with t, or with a slightly later time if
// that is needed to keep the generator's ids increasing. Times before 1970
// are stamped as 1970.
func (g *IDGenerator) NewAt(t time.Time) string {
	ms := min(max(t.UnixMilli(), 0), maxUnixMilli)
	g.mu.Lock()
	r := g.rng.Uint64()
	if ms > g.lastMS {
		g.lastMS = ms
		g.seq = uint16(g.rng.Uint64() & 0x7ff)
	} else {
		g.seq++
		if g.seq > 0xfff {
			g.lastMS = min(g.lastMS+1, maxUnixMilli)
			g.seq = 0
		}
	}
	ms, seq := g.lastMS, g.seq
	g.mu.Unlock()

	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(ms)<<16|0x7000|uint64(seq))
	binary.BigEndian.PutUint64(b[8:16], 0x8000_0000_0000_0000|r>>2)
	return formatUUID(b)
}

// DeriveID returns the UUIDv7 of a message stamped with t whose identity is
// key: the same t (to the millisecond) and key always give the same id, so
// a message made again for the same input, after a crash, is recognisable
// as a re-send. The 74 bits after the timestamp come from SHA-256 of key
// instead of a counter and random bits: such ids sort by time to the
// millisecond, and in no particular order within one.
func DeriveID(t time.Time, key string) string {
	ms := min(max(t.UnixMilli(), 0), maxUnixMilli)
	h := sha256.Sum256([]byte(key))
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(ms)<<16|0x7000|uint64(binary.BigEndian.Uint16(h[0:2])&0xfff))
	binary.BigEndian.PutUint64(b[8:16], 0x8000_0000_0000_0000|binary.BigEndian.Uint64(h[2:10])>>2)
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	const hex = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hex[c>>4], hex[c&0x0f]
		j += 2
	}
	return string(s[:])
}

// IDTime returns the time stamped into an id made by an IDGenerator, to
// millisecond precision, in UTC. It returns an error wrapping ErrInvalidID
// for anything but a canonical lower-case UUIDv7.
func IDTime(id string) (time.Time, error) {
	if len(id) != 36 {
		return time.Time{}, fmt.Errorf("%w %q: length %d, want 36", ErrInvalidID, id, len(id))
	}
	var b [16]byte
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if id[i] != '-' {
				return time.Time{}, fmt.Errorf("%w %q: want '-' at offset %d", ErrInvalidID, id, i)
			}
			i++
			continue
		}
		hi, ok1 := unhex(id[i])
		lo, ok2 := unhex(id[i+1])
		if !ok1 || !ok2 {
			return time.Time{}, fmt.Errorf("%w %q: want lower-case hex at offset %d", ErrInvalidID, id, i)
		}
		b[j] = hi<<4 | lo
		j++
		i += 2
	}
	if b[6]>>4 != 7 {
		return time.Time{}, fmt.Errorf("%w %q: version %d, want 7", ErrInvalidID, id, b[6]>>4)
	}
	if b[8]>>6 != 0b10 {
		return time.Time{}, fmt.Errorf("%w %q: not an RFC 9562 variant", ErrInvalidID, id)
	}
	ms := int64(binary.BigEndian.Uint64(b[0:8]) >> 16)
	return time.UnixMilli(ms).UTC(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
