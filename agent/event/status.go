package event

import (
	"encoding/json"
	"fmt"
	"time"
)

// State is the agent's connection state in a Status message.
type State string

// The states.
const (
	StateOnline  State = "online"
	StateOffline State = "offline"
)

// Status is the retained message of the status topic. The agent publishes
// an online Status after each connection to the broker and an offline one
// before a clean disconnect; the offline one is also the MQTT last will,
// which the broker publishes when the connection dies. Its JSON form is
// the schema StatusSchema (docs/schema/status.schema.json).
//
// A will is handed to the broker in the CONNECT packet, so its payload,
// Time included, is fixed before the connection exists: the Time of an
// offline status that came from the will says when the agent built it
// (at connect time or earlier), not when it went away. Receivers that
// need the time of the disconnect use the time the message reached them.
type Status struct {
	State    State
	DeviceID string
	// Time is when the payload was built: when the message was sent,
	// except for the will (see above).
	Time time.Time
	// Started is when the agent process started; a Started later than
	// the previous status's means the agent restarted.
	Started time.Time
	// Version is the agent's version string.
	Version string
	Model   Model
}

// NewStatus returns a Status built at t; Started is t too until the caller
// sets the agent's start time.
func NewStatus(state State, deviceID, version string, model Model, t time.Time) Status {
	return Status{State: state, DeviceID: deviceID, Time: t, Started: t, Version: version, Model: model}
}

type statusJSON struct {
	Schema   string `json:"schema"`
	State    State  `json:"state"`
	DeviceID string `json:"device_id"`
	Time     string `json:"time"`
	Started  string `json:"started"`
	Version  string `json:"version"`
	Model    Model  `json:"model"`
}

// MarshalJSON encodes s as a StatusSchema payload.
func (s Status) MarshalJSON() ([]byte, error) {
	return json.Marshal(statusJSON{
		Schema:   StatusSchema,
		State:    s.State,
		DeviceID: s.DeviceID,
		Time:     formatTime(s.Time),
		Started:  formatTime(s.Started),
		Version:  s.Version,
		Model:    s.Model,
	})
}

// UnmarshalJSON decodes a StatusSchema payload.
func (s *Status) UnmarshalJSON(data []byte) error {
	var w statusJSON
	if err := decode(data, StatusSchema, &w); err != nil {
		return err
	}
	if w.State != StateOnline && w.State != StateOffline {
		return fmt.Errorf("%w: unknown state %q", ErrSchema, w.State)
	}
	t, err := parseTime("time", w.Time)
	if err != nil {
		return err
	}
	started, err := parseTime("started", w.Started)
	if err != nil {
		return err
	}
	*s = Status{State: w.State, DeviceID: w.DeviceID, Time: t, Started: started, Version: w.Version, Model: w.Model}
	return nil
}
