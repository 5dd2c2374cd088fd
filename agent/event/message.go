package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Schema names, the "schema" field of each payload. A receiver checks it
// before reading anything else; an incompatible change of a payload gets
// a new name.
const (
	AlertSchema  = "ood-agent/alert/v1"
	StatusSchema = "ood-agent/status/v2"
	StatsSchema  = "ood-agent/stats/v1"
)

// ErrSchema is wrapped by the UnmarshalJSON methods when a payload is not
// the one they read: another schema, an unknown type, a bad time.
var ErrSchema = errors.New("event: payload does not match schema")

// Type is the kind of an alert-topic message.
type Type string

// The message types.
const (
	// TypeAlert is one out-of-distribution observation in ModeFrame.
	TypeAlert Type = "alert"
	// TypeEventStart opens a stream event.
	TypeEventStart Type = "event_start"
	// TypeEventUpdate reports on an open stream event.
	TypeEventUpdate Type = "event_update"
	// TypeEventEnd closes a stream event.
	TypeEventEnd Type = "event_end"
)

func (t Type) valid() bool {
	switch t {
	case TypeAlert, TypeEventStart, TypeEventUpdate, TypeEventEnd:
		return true
	}
	return false
}

// EndReason says why a stream event ended.
type EndReason string

// The reasons for event_end.
const (
	// EndInDistribution: Settings.EndAfter consecutive in-distribution
	// observations.
	EndInDistribution EndReason = "in_distribution"
	// EndTimeout: no out-of-distribution observation for
	// Settings.Timeout.
	EndTimeout EndReason = "timeout"
	// EndReload: new settings switched the Decider to ModeFrame.
	EndReload EndReason = "reload"
	// EndShutdown: the agent is stopping (Decider.Shutdown).
	EndShutdown EndReason = "shutdown"
)

// EvidenceContentType is the media type of evidence payloads.
const EvidenceContentType = "image/jpeg"

// Model identifies the model that produced a message, so that receivers
// can tell results of different models, or versions of one, apart.
type Model struct {
	// Name is a human-readable name, e.g. the file's base name.
	Name string `json:"name"`
	// SHA256 is the lower-case hex SHA-256 of the model file; it is what
	// the calibration is tied to.
	SHA256 string `json:"sha256"`
}

// Evidence points to a JPEG of the frame, published separately on
// Topics.Evidence(ID) because MQTT payloads are best kept small.
type Evidence struct {
	Topic       string `json:"topic"`
	ID          string `json:"id"`
	Bytes       int    `json:"bytes"`
	ContentType string `json:"content_type"`
}

// EventInfo describes the stream event a message belongs to. It is
// flattened into the message's JSON.
type EventInfo struct {
	// ID is the event's id: the id of its event_start message.
	ID string
	// Start is the time of the first out-of-distribution observation in
	// the K-of-N window that started the event.
	Start time.Time
	// PeakScore is the lowest (most out-of-distribution) Score of the
	// event's out-of-distribution observations so far, PeakFrameSeq the
	// frame that had it, and PeakEnergy the highest Energy among them.
	// For the energy method PeakEnergy = −PeakScore.
	PeakScore    float64
	PeakEnergy   float64
	PeakFrameSeq uint64
	// Frames counts the event's observations so far, from the one at
	// Start on, and OODFrames the out-of-distribution ones among them.
	Frames    uint64
	OODFrames uint64
	// Duration runs from Start to the event's last out-of-distribution
	// observation so far.
	Duration time.Duration
	// EndReason is set in event_end messages only.
	EndReason EndReason
}

// Message is a message of the alert topic: an alert, or one of the
// event_start, event_update and event_end messages of a stream event. Its
// JSON form is the schema AlertSchema (docs/schema/alert.schema.json).
//
// The observation fields (Origin, FrameSeq and Verdict) describe the observation
// the message is about: the out-of-distribution frame for alert and
// event_start, and the latest observation of the event for event_update
// and event_end.
type Message struct {
	Type Type
	// ID is unique to the message and sorts by time; see IDGenerator.
	ID       string
	DeviceID string
	// Time is when the message was decided: the observation's time, or
	// for an event_end caused by a timeout or a shutdown, the time passed
	// to Tick, Observe or Shutdown.
	Time     time.Time
	Origin   string
	FrameSeq uint64
	Verdict
	Model Model
	// Event is set for the event_* types and nil for alert.
	Event *EventInfo
	// Evidence, when set, points to a JPEG of the frame; see
	// AttachEvidence.
	Evidence *Evidence
}

// AttachEvidence records that a JPEG of jpegLen bytes is published on
// t.Evidence(m.ID). The caller publishes it, before the message itself so
// that a receiver never waits for it.
func (m *Message) AttachEvidence(t Topics, jpegLen int) {
	m.Evidence = &Evidence{
		Topic:       t.Evidence(m.ID),
		ID:          m.ID,
		Bytes:       jpegLen,
		ContentType: EvidenceContentType,
	}
}

// messageJSON is the wire form of Message; its field order is the order
// of the JSON object.
type messageJSON struct {
	Schema   string `json:"schema"`
	Type     Type   `json:"type"`
	ID       string `json:"id"`
	EventID  string `json:"event_id,omitempty"`
	DeviceID string `json:"device_id"`
	Time     string `json:"time"`
	Origin   string `json:"origin"`
	FrameSeq uint64 `json:"frame_seq"`
	Verdict
	Model        Model     `json:"model"`
	StartTime    string    `json:"start_time,omitempty"`
	PeakScore    *float64  `json:"peak_score,omitempty"`
	PeakEnergy   *float64  `json:"peak_energy,omitempty"`
	PeakFrameSeq *uint64   `json:"peak_frame_seq,omitempty"`
	Frames       *uint64   `json:"frames,omitempty"`
	OODFrames    *uint64   `json:"ood_frames,omitempty"`
	DurationMS   *int64    `json:"duration_ms,omitempty"`
	EndReason    EndReason `json:"end_reason,omitempty"`
	Evidence     *Evidence `json:"evidence,omitempty"`
}

// MarshalJSON encodes m as an AlertSchema payload.
func (m Message) MarshalJSON() ([]byte, error) {
	w := messageJSON{
		Schema:   AlertSchema,
		Type:     m.Type,
		ID:       m.ID,
		DeviceID: m.DeviceID,
		Time:     formatTime(m.Time),
		Origin:   m.Origin,
		FrameSeq: m.FrameSeq,
		Verdict:  m.Verdict,
		Model:    m.Model,
		Evidence: m.Evidence,
	}
	if e := m.Event; e != nil {
		dur := e.Duration.Milliseconds()
		w.EventID = e.ID
		w.StartTime = formatTime(e.Start)
		w.PeakScore = &e.PeakScore
		w.PeakEnergy = &e.PeakEnergy
		w.PeakFrameSeq = &e.PeakFrameSeq
		w.Frames = &e.Frames
		w.OODFrames = &e.OODFrames
		w.DurationMS = &dur
		w.EndReason = e.EndReason
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes an AlertSchema payload. It checks the schema
// name, the type and the times, not every constraint of the JSON Schema.
func (m *Message) UnmarshalJSON(data []byte) error {
	var w messageJSON
	if err := decode(data, AlertSchema, &w); err != nil {
		return err
	}
	if !w.Type.valid() {
		return fmt.Errorf("%w: unknown type %q", ErrSchema, w.Type)
	}
	t, err := parseTime("time", w.Time)
	if err != nil {
		return err
	}
	msg := Message{
		Type:     w.Type,
		ID:       w.ID,
		DeviceID: w.DeviceID,
		Time:     t,
		Origin:   w.Origin,
		FrameSeq: w.FrameSeq,
		Verdict:  w.Verdict,
		Model:    w.Model,
		Evidence: w.Evidence,
	}
	if w.Type != TypeAlert {
		if w.EventID == "" || w.PeakScore == nil || w.PeakEnergy == nil || w.PeakFrameSeq == nil ||
			w.Frames == nil || w.OODFrames == nil || w.DurationMS == nil {
			return fmt.Errorf("%w: %s without its event fields", ErrSchema, w.Type)
		}
		start, err := parseTime("start_time", w.StartTime)
		if err != nil {
			return err
		}
		msg.Event = &EventInfo{
			ID:           w.EventID,
			Start:        start,
			PeakScore:    *w.PeakScore,
			PeakEnergy:   *w.PeakEnergy,
			PeakFrameSeq: *w.PeakFrameSeq,
			Frames:       *w.Frames,
			OODFrames:    *w.OODFrames,
			Duration:     time.Duration(*w.DurationMS) * time.Millisecond,
			EndReason:    w.EndReason,
		}
	}
	*m = msg
	return nil
}

// checkSchema reads only the schema field of a payload, so that a payload
// of another schema is reported as such rather than by the first field
// that fails to decode.
// decode unmarshals data into its wire form w once its schema name is
// want.
func decode(data []byte, want string, w any) error {
	if err := checkSchema(data, want); err != nil {
		return err
	}
	return json.Unmarshal(data, w)
}

func checkSchema(data []byte, want string) error {
	var head struct {
		Schema string `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return err
	}
	if head.Schema != want {
		return fmt.Errorf("%w: schema %q, want %q", ErrSchema, head.Schema, want)
	}
	return nil
}

// timeLayout is RFC 3339 in UTC with exactly three fractional digits, so
// that times have one spelling and sort as strings.
const timeLayout = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s %q: not an RFC 3339 time", ErrSchema, field, s)
	}
	return t.UTC(), nil
}
