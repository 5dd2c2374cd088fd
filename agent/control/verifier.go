package control

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Default limits of a Verifier.
const (
	// DefaultClockSkew is how far the agent's clock may be from the hub's.
	DefaultClockSkew = 30 * time.Second
	// DefaultMaxTTL is the longest command lifetime accepted.
	DefaultMaxTTL = time.Hour
)

// VerifierOptions configures a Verifier.
type VerifierOptions struct {
	Keys   KeyRing
	Device string
	Groups []string
	// StateDir holds the replay state; required.
	StateDir string
	// ClockSkew and MaxTTL default to DefaultClockSkew and DefaultMaxTTL.
	ClockSkew time.Duration
	MaxTTL    time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Verifier decides whether this agent obeys a command.
type Verifier struct {
	keys   KeyRing
	device string
	groups []string
	skew   time.Duration
	maxTTL time.Duration
	now    func() time.Time
	replay *ReplayGuard
}

// NewVerifier checks opts and loads the replay state.
func NewVerifier(opts VerifierOptions) (*Verifier, error) {
	if len(opts.Keys) == 0 {
		return nil, errors.New("control: no trusted keys; control stays off")
	}
	if err := checkName(opts.Device); err != nil {
		return nil, fmt.Errorf("control: device id: %w", err)
	}
	// These device ids would read as the broadcast and group topics.
	if opts.Device == string(TargetAll) || opts.Device == string(TargetGroup) {
		return nil, fmt.Errorf("control: device id %q is reserved for command topics", opts.Device)
	}
	for _, g := range opts.Groups {
		if err := checkName(g); err != nil {
			return nil, fmt.Errorf("control: group: %w", err)
		}
	}
	if opts.StateDir == "" {
		return nil, errors.New("control: a state directory is needed for replay protection")
	}
	v := &Verifier{
		keys: opts.Keys, device: opts.Device, groups: slices.Clone(opts.Groups),
		skew: opts.ClockSkew, maxTTL: opts.MaxTTL, now: opts.Now,
	}
	if v.skew <= 0 {
		v.skew = DefaultClockSkew
	}
	if v.maxTTL <= 0 {
		v.maxTTL = DefaultMaxTTL
	}
	if v.now == nil {
		v.now = time.Now
	}
	var err error
	if v.replay, err = OpenReplayGuard(opts.StateDir); err != nil {
		return nil, err
	}
	return v, nil
}

// Verify checks raw, an envelope as received, and returns the command if
// this agent must obey it. The checks run in this order, the first failing
// one giving the *Error's Code: form and signature (CodeMalformed,
// CodeUnsigned, CodeUntrustedKey, CodeBadSignature), command form
// (CodeMalformed, CodeUnknownType, CodeInvalidArgs), target
// (CodeWrongTarget), time (CodeMalformed for a TTL above the maximum,
// CodeNotYetValid, CodeExpired), replay (CodeReplayed). An accepted
// command is recorded durably before Verify returns.
func (v *Verifier) Verify(raw []byte) (Command, error) {
	payload, kid, err := Open(v.keys, PurposeCommand, raw)
	if err != nil {
		return Command{}, err
	}
	c, err := ParseCommand(payload)
	if err != nil {
		return Command{}, err
	}
	c.KeyID = kid
	if !v.isFor(c.Target) {
		return Command{}, refuse(CodeWrongTarget, c.ID, "command is for %s, this is device %s", c.Target, v.device)
	}
	now := v.now()
	switch {
	case c.TTL > v.maxTTL:
		return Command{}, refuse(CodeMalformed, c.ID, "ttl %v exceeds the maximum %v", c.TTL, v.maxTTL)
	case c.IssuedAt.After(now.Add(v.skew)):
		return Command{}, refuse(CodeNotYetValid, c.ID, "issued at %s, %v ahead of this device's clock", c.IssuedAt.Format(time.RFC3339), c.IssuedAt.Sub(now).Round(time.Second))
	case now.After(c.Expires().Add(v.skew)):
		return Command{}, refuse(CodeExpired, c.ID, "expired at %s, %v ago", c.Expires().Format(time.RFC3339), now.Sub(c.Expires()).Round(time.Second))
	}
	if err := v.replay.Accept(c, c.Expires().Add(v.skew), now); err != nil {
		return Command{}, err
	}
	return c, nil
}

func (v *Verifier) isFor(t Target) bool {
	switch t.Kind {
	case TargetAll:
		return true
	case TargetDevice:
		return t.Name == v.device
	case TargetGroup:
		return slices.Contains(v.groups, t.Name)
	}
	return false
}
