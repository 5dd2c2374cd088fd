package control

import (
	"errors"
	"fmt"
)

// Code names why a command was refused or failed. Codes are stable: the
// hub shows and branches on them.
type Code string

// The result codes. An accepted and applied command has no code.
const (
	CodeMalformed    Code = "malformed"     // not a valid envelope or command
	CodeUnsigned     Code = "unsigned"      // no signature
	CodeUntrustedKey Code = "untrusted_key" // signed by a key not in control.trusted_keys
	CodeBadSignature Code = "bad_signature" // signature does not verify
	CodeExpired      Code = "expired"       // issued_at + ttl (+ skew) has passed
	CodeNotYetValid  Code = "not_yet_valid" // issued_at is in the future beyond the skew
	CodeReplayed     Code = "replayed"      // nonce seen, or sequence not newer than the last accepted
	CodeWrongTarget  Code = "wrong_target"  // for another device or a group this device is not in
	CodeUnknownType  Code = "unknown_type"  // command type this agent does not know
	CodeInvalidArgs  Code = "invalid_args"  // arguments missing or out of range
	CodeUnsupported  Code = "unsupported"   // known type the agent cannot carry out here
	CodeApplyFailed  Code = "apply_failed"  // accepted, but applying it failed
	CodeStateFailure Code = "state_failure" // the replay state could not be saved; refused
)

// Error is a refused or failed command. CommandID is the id the command
// claims; for a command that failed authentication it is not trustworthy
// and is reported only so the sender can match the result.
type Error struct {
	Code      Code
	CommandID string
	Msg       string
	Err       error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("command %s: %s: %s: %v", e.CommandID, e.Code, e.Msg, e.Err)
	}
	return fmt.Sprintf("command %s: %s: %s", e.CommandID, e.Code, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

func refuse(code Code, id, format string, args ...any) *Error {
	return &Error{Code: code, CommandID: id, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns the Code of err: that of the *Error it wraps, or
// CodeUnsupported for ErrUnsupported, or CodeApplyFailed.
func CodeOf(err error) Code {
	var ce *Error
	switch {
	case errors.As(err, &ce):
		return ce.Code
	case errors.Is(err, ErrUnsupported):
		return CodeUnsupported
	}
	return CodeApplyFailed
}

// ErrUnsupported is returned (wrapped) by a Handler for a command type it
// does not carry out, such as a rollout on an agent without a state
// directory.
var ErrUnsupported = errors.New("control: command not supported by this agent")
