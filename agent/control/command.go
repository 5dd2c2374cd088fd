package control

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// FormatVersion is the command payload format version, the "v" field.
const FormatVersion = 1

// maxIDLen bounds command ids, nonces and names.
const maxIDLen = 128

// Type is a command type.
type Type string

// The command types.
const (
	// TypeSetThreshold sets the decision threshold, directly or as the
	// threshold that keeps a target fraction of the calibration's ID
	// scores. Args: *SetThresholdArgs.
	TypeSetThreshold Type = "set_threshold"
	// TypeSetDecision changes the decision settings. Args:
	// *SetDecisionArgs.
	TypeSetDecision Type = "set_decision"
	// TypePause stops analysing frames until resume. No args.
	TypePause Type = "pause"
	// TypeResume undoes pause. No args.
	TypeResume Type = "resume"
	// TypeSnapshot publishes the next frame as evidence JPEG. No args.
	TypeSnapshot Type = "snapshot"
	// TypeReload re-reads the configuration file. No args.
	TypeReload Type = "reload"
	// TypeReportConfig answers with the effective configuration, secrets
	// redacted. No args.
	TypeReportConfig Type = "report_config"
	// TypeRollout installs a new model and calibration described by a
	// signed manifest. Args: *RolloutArgs.
	TypeRollout Type = "rollout"
)

// Types lists every command type.
func Types() []Type {
	return []Type{TypeSetThreshold, TypeSetDecision, TypePause, TypeResume, TypeSnapshot, TypeReload, TypeReportConfig, TypeRollout}
}

// SetThresholdArgs sets exactly one of Threshold (in the calibration's
// ID-score orientation, or the energy when the method is energy, as in
// decision.threshold) and TargetTPR (the fraction of the calibration's ID
// scores to keep, recomputed from the stored summary).
type SetThresholdArgs struct {
	Threshold *float64 `json:"threshold,omitempty"`
	TargetTPR *float64 `json:"target_tpr,omitempty"`
}

// SetDecisionArgs changes the decision settings it sets; nil fields keep
// their value. Durations are in seconds.
type SetDecisionArgs struct {
	Mode            *string  `json:"mode,omitempty"`
	K               *int     `json:"k,omitempty"`
	N               *int     `json:"n,omitempty"`
	EndAfter        *int     `json:"end_after,omitempty"`
	CooldownS       *float64 `json:"cooldown_s,omitempty"`
	TimeoutS        *float64 `json:"timeout_s,omitempty"`
	UpdateIntervalS *float64 `json:"update_interval_s,omitempty"`
}

// RolloutArgs carries the signed model manifest: an Envelope with
// PurposeManifest, checked again by the rollout on its own.
type RolloutArgs struct {
	Manifest json.RawMessage `json:"manifest"`
}

// Command is a verified command.
type Command struct {
	ID       string
	Target   Target
	IssuedAt time.Time
	TTL      time.Duration
	Nonce    string
	Seq      uint64
	Type     Type
	// Args is *SetThresholdArgs, *SetDecisionArgs or *RolloutArgs for
	// those types, nil for the others.
	Args any
	// KeyID names the key that signed the command.
	KeyID string
}

// Expires is when the command stops being valid, not counting clock skew.
func (c Command) Expires() time.Time { return c.IssuedAt.Add(c.TTL) }

// wireCommand is the signed payload.
type wireCommand struct {
	V        int             `json:"v"`
	ID       string          `json:"id"`
	Target   string          `json:"target"`
	IssuedAt time.Time       `json:"issued_at"`
	TTLS     int64           `json:"ttl_s"`
	Nonce    string          `json:"nonce"`
	Seq      uint64          `json:"seq"`
	Type     Type            `json:"type"`
	Args     json.RawMessage `json:"args,omitempty"`
}

// ParseCommand decodes and checks a command payload (the bytes inside a
// verified envelope). It checks the form only; Verifier checks the
// target, the time and replays.
func ParseCommand(payload []byte) (Command, error) {
	var w wireCommand
	if err := decodeStrict(payload, &w); err != nil {
		return Command{}, refuse(CodeMalformed, claimedID(payload), "command: %v", err)
	}
	id := w.ID
	switch {
	case w.V != FormatVersion:
		return Command{}, refuse(CodeMalformed, id, "command format version %d, this agent reads %d", w.V, FormatVersion)
	case checkName(w.ID) != nil:
		return Command{}, refuse(CodeMalformed, "", "command id: %v", checkName(w.ID))
	case checkName(w.Nonce) != nil:
		return Command{}, refuse(CodeMalformed, id, "nonce: %v", checkName(w.Nonce))
	case w.IssuedAt.IsZero():
		return Command{}, refuse(CodeMalformed, id, "issued_at is missing")
	case w.TTLS <= 0:
		return Command{}, refuse(CodeMalformed, id, "ttl_s must be positive, got %d", w.TTLS)
	case w.TTLS > int64(math.MaxInt64/time.Second):
		return Command{}, refuse(CodeMalformed, id, "ttl_s %d is too large", w.TTLS)
	case w.Seq == 0:
		return Command{}, refuse(CodeMalformed, id, "seq must be positive")
	}
	target, err := ParseTarget(w.Target)
	if err != nil {
		return Command{}, refuse(CodeMalformed, id, "%v", err)
	}
	args, aerr := parseArgs(w.Type, w.Args)
	if aerr != nil {
		aerr.CommandID = id
		return Command{}, aerr
	}
	return Command{
		ID: w.ID, Target: target, IssuedAt: w.IssuedAt, TTL: time.Duration(w.TTLS) * time.Second,
		Nonce: w.Nonce, Seq: w.Seq, Type: w.Type, Args: args,
	}, nil
}

// marshal encodes c as a payload.
func (c Command) marshal() ([]byte, error) {
	w := wireCommand{
		V: FormatVersion, ID: c.ID, Target: c.Target.String(), IssuedAt: c.IssuedAt.UTC(),
		TTLS: int64(c.TTL / time.Second), Nonce: c.Nonce, Seq: c.Seq, Type: c.Type,
	}
	if c.Args != nil {
		a, err := json.Marshal(c.Args)
		if err != nil {
			return nil, fmt.Errorf("control: command args: %w", err)
		}
		w.Args = a
	}
	return json.Marshal(w)
}

func parseArgs(t Type, raw json.RawMessage) (any, *Error) {
	empty := len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
	bad := func(format string, a ...any) (any, *Error) {
		return nil, refuse(CodeInvalidArgs, "", "%s: "+format, append([]any{t}, a...)...)
	}
	decode := func(v any) *Error {
		if empty {
			_, e := bad("arguments are missing")
			return e
		}
		if err := decodeStrict(raw, v); err != nil {
			_, e := bad("%v", err)
			return e
		}
		return nil
	}
	switch t {
	case TypePause, TypeResume, TypeSnapshot, TypeReload, TypeReportConfig:
		if !empty && !bytes.Equal(bytes.Join(bytes.Fields(raw), nil), []byte("{}")) {
			return bad("takes no arguments")
		}
		return nil, nil
	case TypeSetThreshold:
		var a SetThresholdArgs
		if e := decode(&a); e != nil {
			return nil, e
		}
		switch {
		case (a.Threshold == nil) == (a.TargetTPR == nil):
			return bad("set exactly one of threshold and target_tpr")
		case a.TargetTPR != nil && !(*a.TargetTPR > 0 && *a.TargetTPR < 1):
			return bad("target_tpr must be between 0 and 1 (exclusive), got %v", *a.TargetTPR)
		}
		return &a, nil
	case TypeSetDecision:
		var a SetDecisionArgs
		if e := decode(&a); e != nil {
			return nil, e
		}
		if a == (SetDecisionArgs{}) {
			return bad("set at least one field")
		}
		if a.Mode != nil && *a.Mode != "frame" && *a.Mode != "stream" {
			return bad("mode %q: want frame or stream", *a.Mode)
		}
		for name, v := range map[string]*int{"k": a.K, "n": a.N, "end_after": a.EndAfter} {
			if v != nil && *v < 1 {
				return bad("%s must be at least 1, got %d", name, *v)
			}
		}
		if a.K != nil && a.N != nil && *a.K > *a.N {
			return bad("k (%d) must not exceed n (%d)", *a.K, *a.N)
		}
		for name, v := range map[string]*float64{"cooldown_s": a.CooldownS, "timeout_s": a.TimeoutS, "update_interval_s": a.UpdateIntervalS} {
			if v != nil && !(*v >= 0 && *v < 1e7) {
				return bad("%s must be between 0 and 1e7 seconds, got %v", name, *v)
			}
		}
		if a.TimeoutS != nil && *a.TimeoutS == 0 {
			return bad("timeout_s must be positive")
		}
		return &a, nil
	case TypeRollout:
		var a RolloutArgs
		if e := decode(&a); e != nil {
			return nil, e
		}
		if len(bytes.TrimSpace(a.Manifest)) == 0 {
			return bad("manifest is missing")
		}
		return &a, nil
	}
	return nil, refuse(CodeUnknownType, "", "unknown command type %q", t)
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data: a field this agent does not understand might change what
// the sender meant.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}

// checkName checks an id, nonce or group name: 1 to 128 bytes of
// printable UTF-8 without "/", "+", "#" or spaces, so it is safe in topics,
// file names and logs.
func checkName(s string) error {
	if s == "" {
		return fmt.Errorf("must not be empty")
	}
	if len(s) > maxIDLen {
		return fmt.Errorf("%d bytes long, the limit is %d", len(s), maxIDLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("is not valid UTF-8")
	}
	for _, r := range s {
		if r == '/' || r == '+' || r == '#' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("%q must not contain %q", s, r)
		}
	}
	return nil
}

// TargetKind says which agents a command is for.
type TargetKind string

// The target kinds.
const (
	TargetAll    TargetKind = "all"
	TargetDevice TargetKind = "device"
	TargetGroup  TargetKind = "group"
)

// Target is who a command is for: every agent, one device or the agents
// of a group. Its text form is "all", "device/<id>" or "group/<name>".
type Target struct {
	Kind TargetKind
	Name string // device id or group name; empty for TargetAll
}

// Device returns the Target of one device.
func Device(id string) Target { return Target{Kind: TargetDevice, Name: id} }

// Group returns the Target of a group.
func Group(name string) Target { return Target{Kind: TargetGroup, Name: name} }

// All is the Target of every agent.
var All = Target{Kind: TargetAll}

func (t Target) String() string {
	if t.Kind == TargetAll {
		return string(TargetAll)
	}
	return string(t.Kind) + "/" + t.Name
}

// ParseTarget reads a target's text form.
func ParseTarget(s string) (Target, error) {
	if s == string(TargetAll) {
		return All, nil
	}
	kind, name, ok := strings.Cut(s, "/")
	if !ok || (kind != string(TargetDevice) && kind != string(TargetGroup)) {
		return Target{}, fmt.Errorf("target %q: want all, device/<id> or group/<name>", s)
	}
	if err := checkName(name); err != nil {
		return Target{}, fmt.Errorf("target %q: %v", s, err)
	}
	return Target{Kind: TargetKind(kind), Name: name}, nil
}

// Topic is the MQTT topic a command for t is published on:
// <prefix>/<device>/cmd, <prefix>/all/cmd or <prefix>/group/<name>/cmd.
func (t Target) Topic(prefix string) string {
	switch t.Kind {
	case TargetAll:
		return prefix + "/all/cmd"
	case TargetGroup:
		return prefix + "/group/" + t.Name + "/cmd"
	}
	return prefix + "/" + t.Name + "/cmd"
}

// ResultTopic is where device publishes command results.
func ResultTopic(prefix, device string) string { return prefix + "/" + device + "/cmd/result" }
