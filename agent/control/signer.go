package control

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultTTL is the lifetime of a signed command unless the draft says.
const DefaultTTL = 5 * time.Minute

// Signer signs commands and manifests on the hub. Its methods are safe for
// concurrent use.
type Signer struct {
	key  ed25519.PrivateKey
	now  func() time.Time
	rand io.Reader

	mu      sync.Mutex
	lastSeq uint64
}

// NewSigner returns a Signer using key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, now: time.Now, rand: rand.Reader}
}

// PublicKey is the key agents must trust, in the configuration format.
func (s *Signer) PublicKey() string {
	return FormatPublicKey(s.key.Public().(ed25519.PublicKey))
}

// Draft is a command before signing.
type Draft struct {
	Target Target
	Type   Type
	// Args is the type's args struct (see Command.Args), or nil.
	Args any
	// TTL defaults to DefaultTTL.
	TTL time.Duration
}

// SignCommand fills in the id, nonce, issue time and sequence of d, signs
// it and returns the command and its envelope, ready to publish on
// d.Target.Topic(prefix). Sequence numbers are the issue time in
// microseconds, bumped to stay strictly increasing, so a restarted hub
// keeps issuing newer ones without storing a counter (as long as its clock
// does not go back).
func (s *Signer) SignCommand(d Draft) (Command, []byte, error) {
	if d.TTL == 0 {
		d.TTL = DefaultTTL
	}
	if d.TTL < time.Second {
		return Command{}, nil, fmt.Errorf("control: ttl %v is below one second", d.TTL)
	}
	var rnd [24]byte
	if _, err := io.ReadFull(s.rand, rnd[:]); err != nil {
		return Command{}, nil, fmt.Errorf("control: random: %w", err)
	}
	now := s.now().UTC()
	s.mu.Lock()
	seq := max(uint64(now.UnixMicro()), s.lastSeq+1)
	s.lastSeq = seq
	s.mu.Unlock()
	c := Command{
		ID: "c-" + hex.EncodeToString(rnd[:8]), Target: d.Target, IssuedAt: now.Truncate(time.Millisecond),
		TTL: d.TTL.Truncate(time.Second), Nonce: b64.EncodeToString(rnd[8:]), Seq: seq,
		Type: d.Type, Args: d.Args,
	}
	// The draft is checked the way an agent will check it, so the hub
	// refuses what every agent would refuse.
	payload, err := c.marshal()
	if err != nil {
		return Command{}, nil, err
	}
	parsed, err := ParseCommand(payload)
	if err != nil {
		return Command{}, nil, fmt.Errorf("control: sign: %w", err)
	}
	env, err := Seal(s.key, PurposeCommand, payload)
	if err != nil {
		return Command{}, nil, err
	}
	parsed.KeyID = KeyID(s.key.Public().(ed25519.PublicKey))
	return parsed, env, nil
}

// Sign signs an arbitrary payload for purpose, such as a model manifest.
func (s *Signer) Sign(p Purpose, payload []byte) ([]byte, error) {
	return Seal(s.key, p, payload)
}
