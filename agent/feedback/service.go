package feedback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
)

// PurposeFeedback is the signature purpose of signed feedback, so a signed
// command is never valid feedback and the other way round.
const PurposeFeedback control.Purpose = "ood-agent feedback v1"

// Labeler applies a verdict; *Store implements it.
type Labeler interface {
	Label(alertID string, kind Kind, class string) (LabelInfo, error)
}

// Code names why feedback was refused. Codes are stable: the hub shows
// them.
type Code string

// The result codes; accepted feedback has none.
const (
	CodeMalformed    Code = "malformed"     // not JSON, or not a valid envelope
	CodeInvalid      Code = "invalid"       // does not match feedback.schema.json, or a class the model lacks
	CodeUnsigned     Code = "unsigned"      // control is on and the feedback is not signed
	CodeUntrustedKey Code = "untrusted_key" // signed by a key not in control.trusted_keys
	CodeBadSignature Code = "bad_signature" // signature does not verify, or signed while control is off
	CodeUnknownAlert Code = "unknown_alert" // the store does not hold the alert
	CodeStoreFailure Code = "store_failure" // the label could not be saved
)

// Message is the feedback payload (docs/schema/feedback.schema.json).
type Message struct {
	V       int    `json:"v,omitempty"`
	ID      string `json:"id"`
	AlertID string `json:"alert_id"`
	Label   Kind   `json:"label"`
	// Class is a label name or a class index; decoded from either a JSON
	// string or a number.
	Class string `json:"-"`
}

// Result is published on <prefix>/<device>/feedback/result at QoS 1.
type Result struct {
	V       int       `json:"v"`
	ID      string    `json:"id,omitempty"`
	Device  string    `json:"device"`
	AlertID string    `json:"alert_id,omitempty"`
	OK      bool      `json:"ok"`
	Label   Kind      `json:"label,omitempty"`
	Class   string    `json:"class,omitempty"`
	Code    Code      `json:"code,omitempty"`
	Message string    `json:"message,omitempty"`
	Time    time.Time `json:"time"`
}

// ServiceOptions configures a Service.
type ServiceOptions struct {
	Prefix    string
	Device    string
	Labeler   Labeler
	Transport control.Transport
	// Keys, when not empty (control is on), are the only keys whose
	// signed feedback is accepted, and unsigned feedback is refused.
	// When empty, only unsigned feedback is accepted: the broker's access
	// control is then the only protection, as it is for everything else
	// the agent does without control.
	Keys control.KeyRing
	// Classes, if set, returns the label names of the model in use: a
	// false alarm's class must be one of them, or an index below their
	// count (any index when the model has no label names), so that an
	// operator's typo is refused at once rather than failing the
	// adaptation later.
	Classes func() []string
	Log     *slog.Logger
	// Queue is how many received messages may wait; more are dropped.
	// Default 16.
	Queue int
	Now   func() time.Time
}

// Service receives feedback for one device over MQTT, applies it to the
// store one message at a time, and publishes a Result for each.
type Service struct {
	opts  ServiceOptions
	log   *slog.Logger
	inbox *control.Inbox
}

// NewService checks opts.
func NewService(opts ServiceOptions) (*Service, error) {
	if opts.Labeler == nil || opts.Transport == nil {
		return nil, errors.New("feedback: service needs a labeler and a transport")
	}
	if opts.Prefix == "" || opts.Device == "" {
		return nil, errors.New("feedback: service needs a topic prefix and a device id")
	}
	opts.Queue, opts.Log, opts.Now = control.ServiceDefaults(opts.Queue, opts.Log, opts.Now)
	log := opts.Log.With("component", "feedback")
	return &Service{opts: opts, log: log, inbox: control.NewInbox(opts.Transport, opts.Queue, "feedback", log)}, nil
}

// Topic is the topic feedback for device arrives on.
func Topic(prefix, device string) string { return prefix + "/" + device + "/feedback" }

// ResultTopic is the topic the results go to.
func ResultTopic(prefix, device string) string { return Topic(prefix, device) + "/result" }

// Subscribe subscribes to the feedback topic at QoS 1. Call it before
// the transport connects when its session is persistent; Run calls it
// when it has not been called.
func (s *Service) Subscribe(ctx context.Context) error {
	return s.inbox.Subscribe(ctx, []string{Topic(s.opts.Prefix, s.opts.Device)})
}

// Run subscribes and processes feedback until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	return s.inbox.Run(ctx, []string{Topic(s.opts.Prefix, s.opts.Device)}, func(ctx context.Context, raw []byte) { s.Process(ctx, raw) })
}

// Process checks, applies and reports one received message, and returns
// the result it published (or tried to).
func (s *Service) Process(ctx context.Context, raw []byte) Result {
	r := s.apply(raw)
	if r.OK {
		s.log.Info("feedback applied", "id", r.ID, "alert_id", r.AlertID, "label", r.Label, "class", r.Class)
	} else {
		s.log.Warn("feedback refused", "id", r.ID, "alert_id", r.AlertID, "code", r.Code, "err", r.Message)
	}
	r.V, r.Device, r.Time = 1, s.opts.Device, s.opts.Now().UTC()
	data, err := json.Marshal(r)
	if err == nil {
		err = s.opts.Transport.Publish(ctx, ResultTopic(s.opts.Prefix, s.opts.Device), data, 1, false)
	}
	if err != nil {
		s.log.Warn("feedback result not published", "id", r.ID, "err", err)
	}
	return r
}

func (s *Service) apply(raw []byte) Result {
	payload, r := s.open(raw)
	if r.Code != "" {
		return r
	}
	m, err := s.parse(payload)
	r = Result{ID: m.ID, AlertID: m.AlertID, Label: m.Label, Class: m.Class}
	if err != nil {
		r.Code, r.Message = CodeInvalid, err.Error()
		return r
	}
	if m.Class != "" && s.opts.Classes != nil {
		if _, err := ClassIndex(m.Class, s.opts.Classes()); err != nil {
			r.Code, r.Message = CodeInvalid, fmt.Sprintf("the model in use has no class %q", m.Class)
			return r
		}
	}
	if _, err := s.opts.Labeler.Label(m.AlertID, m.Label, m.Class); err != nil {
		r.Code, r.Message = CodeStoreFailure, err.Error()
		if errors.Is(err, ErrUnknownAlert) {
			r.Code = CodeUnknownAlert
		}
		return r
	}
	r.OK = true
	return r
}

// open returns the feedback payload: the envelope's, checked against the
// keys, when control is on; the message itself when it is off.
func (s *Service) open(raw []byte) ([]byte, Result) {
	if len(raw) > control.MaxEnvelopeBytes {
		return nil, Result{Code: CodeMalformed, Message: fmt.Sprintf("message is %d bytes, the limit is %d", len(raw), control.MaxEnvelopeBytes)}
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, Result{Code: CodeMalformed, Message: fmt.Sprintf("not a JSON object: %v", err)}
	}
	_, signed := probe["payload"]
	if len(s.opts.Keys) == 0 {
		if signed {
			payload, _, _ := control.Open(nil, PurposeFeedback, raw) // only for the claimed id
			return nil, Result{ID: claimedID(payload, raw), Code: CodeBadSignature, Message: "signed feedback, but control is off (no control.trusted_keys) so the signature cannot be checked"}
		}
		return raw, Result{}
	}
	payload, _, err := control.Open(s.opts.Keys, PurposeFeedback, raw)
	if err != nil {
		r := Result{Code: Code(control.CodeOf(err)), Message: err.Error(), ID: claimedID(payload, raw)}
		if r.Code == CodeUnsigned {
			r.Message = "control is on: feedback must be signed by a key in control.trusted_keys"
		}
		return nil, r
	}
	return payload, Result{}
}

// claimedID pulls the unauthenticated id out of a refused message so the
// sender can match the result.
func claimedID(payload, raw []byte) string {
	var m struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(payload, &m) != nil || m.ID == "" {
		json.Unmarshal(raw, &m)
	}
	if checkID(m.ID) != nil {
		return ""
	}
	return m.ID
}

// parse decodes payload strictly and checks it as feedback.schema.json
// does. The schema stays the documentation, and a test keeps the two in
// agreement; a JSON Schema engine here would grow the edge binary by about
// 0.4 MB for one small message.
func (s *Service) parse(payload []byte) (Message, error) {
	var wire struct {
		V       *int            `json:"v"`
		ID      *string         `json:"id"`
		AlertID *string         `json:"alert_id"`
		Label   *string         `json:"label"`
		Class   json.RawMessage `json:"class"`
	}
	var m Message
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	err := dec.Decode(&wire)
	if wire.ID != nil {
		m.ID = *wire.ID
	}
	if wire.AlertID != nil {
		m.AlertID = *wire.AlertID
	}
	if wire.Label != nil {
		m.Label = Kind(*wire.Label)
	}
	if err != nil {
		return m, fmt.Errorf("feedback.schema.json: %w", err)
	}
	if dec.More() {
		return m, errors.New("feedback.schema.json: trailing data after the JSON object")
	}
	switch {
	case wire.V != nil && *wire.V != 1:
		return m, fmt.Errorf("feedback.schema.json: v must be 1, got %d", *wire.V)
	case wire.ID == nil || wire.AlertID == nil || wire.Label == nil:
		return m, errors.New("feedback.schema.json: id, alert_id and label are required")
	case !validName(m.ID):
		return m, fmt.Errorf("feedback.schema.json: id %q: 1 to 128 letters, digits, '-', '_' or '.' (not first)", m.ID)
	case !validName(m.AlertID):
		return m, fmt.Errorf("feedback.schema.json: alert_id %q: 1 to 128 letters, digits, '-', '_' or '.' (not first)", m.AlertID)
	case m.Label != FalseAlarm && m.Label != Confirmed:
		return m, fmt.Errorf("feedback.schema.json: label must be false_alarm or confirmed, got %q", m.Label)
	}
	if len(wire.Class) == 0 {
		return m, nil
	}
	if m.Label == Confirmed {
		return m, errors.New("feedback.schema.json: class is only allowed with false_alarm")
	}
	var name string
	var n int64
	switch {
	case json.Unmarshal(wire.Class, &name) == nil:
		if name == "" || len([]rune(name)) > 128 || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
			return m, fmt.Errorf("feedback.schema.json: class %q: 1 to 128 characters, no slashes, not . or ..", name)
		}
		m.Class = name
	case json.Unmarshal(wire.Class, &n) == nil && n >= 0:
		m.Class = strconv.FormatInt(n, 10)
	default:
		return m, fmt.Errorf("feedback.schema.json: class must be a label name or a class index ≥ 0, got %s", wire.Class)
	}
	return m, nil
}

// validName is the schema's $defs/name: what ids may be, so that they are
// safe as file names.
func validName(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
