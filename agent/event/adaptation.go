package event

import (
	"encoding/json"
	"fmt"
	"time"
)

// AdaptationSchema names the JSON form of an Adaptation
// (docs/schema/adaptation.schema.json).
const AdaptationSchema = "ood-agent/adaptation/v1"

// AdaptStage is how far an on-device adaptation got.
type AdaptStage string

// The stages an Adaptation reports. Switching is followed by one of
// committed, rolled_back or failed; refused and failed before it end the
// adaptation with the current model kept.
const (
	// AdaptRefused: the retrained layer lost more cross-validated
	// accuracy than adapt.max_accuracy_drop allows, even backed off.
	AdaptRefused AdaptStage = "refused"
	// AdaptSwitching: the adapted model passed its checks and the frame
	// loop switches to it; its first frames are watched.
	AdaptSwitching AdaptStage = "switching"
	// AdaptCommitted: the watched frames passed; the adapted model stays.
	AdaptCommitted AdaptStage = "committed"
	// AdaptRolledBack: the adapted model flagged too many of its first
	// frames (or failed one), and the previous model came back.
	AdaptRolledBack AdaptStage = "rolled_back"
	// AdaptFailed: the adaptation could not run (a training error, or
	// labels the model in use cannot take after a model change), or its
	// model could not be staged or self-tested; the current model stays. A failure that repeats at
	// every adapt.interval is published once.
	AdaptFailed AdaptStage = "failed"
)

// Adaptation is a message of the adaptation topic: one stage of an
// adaptation the agent made on its own from field labels (adapt.enabled),
// so that the people who labelled the alerts see what came of it. The
// agent publishes it through the outbox, like alerts.
type Adaptation struct {
	// ID is unique to the message.
	ID       string `json:"id"`
	DeviceID string `json:"device_id"`
	// Time is when the stage was reached.
	Time time.Time `json:"-"`
	// Version names the adapted model ("adapt-<UTC time>"), as the
	// status and /healthz do once it runs.
	Version string     `json:"version"`
	Stage   AdaptStage `json:"stage"`
	// Message says why for refused, rolled_back and failed, and for
	// committed how many watched frames were out of distribution.
	Message string `json:"message,omitempty"`
	// Model is the model running when the stage was reached: the adapted
	// one once committed, the one it was adapted from before.
	Model Model `json:"model"`
	// Training is what the training saw and measured; nil in the stages
	// after switching when the agent restarted in between.
	Training *AdaptTraining `json:"training,omitempty"`
}

// AdaptTraining summarizes the training of an adaptation.
type AdaptTraining struct {
	// Labels counts the labels newer than the previous adaptation, which
	// started this one; IDSamples and ConfirmedOOD are the samples of the
	// active model it trained on.
	Labels       int `json:"labels"`
	IDSamples    int `json:"id_samples"`
	ConfirmedOOD int `json:"confirmed_ood"`
	// AccuracyBefore and AccuracyAfter are the in-distribution accuracy
	// of the current and the retrained last layer, cross-validated over
	// Folds folds.
	AccuracyBefore float64 `json:"accuracy_before"`
	AccuracyAfter  float64 `json:"accuracy_after"`
	Folds          int     `json:"folds"`
	// Step is the fraction of the retrained layer's change kept (1 unless
	// the accuracy check backed it off).
	Step float64 `json:"step"`
}

// adaptationJSON is an Adaptation as published: the schema name, and the
// time in the messages' one spelling.
type adaptationJSON struct {
	Schema string `json:"schema"`
	adaptationPlain
	Time string `json:"time"`
}

type adaptationPlain Adaptation

// MarshalJSON encodes a as an AdaptationSchema payload.
func (a Adaptation) MarshalJSON() ([]byte, error) {
	return json.Marshal(adaptationJSON{Schema: AdaptationSchema, adaptationPlain: adaptationPlain(a), Time: formatTime(a.Time)})
}

// UnmarshalJSON decodes an AdaptationSchema payload.
func (a *Adaptation) UnmarshalJSON(data []byte) error {
	var w adaptationJSON
	if err := decode(data, AdaptationSchema, &w); err != nil {
		return err
	}
	switch w.Stage {
	case AdaptRefused, AdaptSwitching, AdaptCommitted, AdaptRolledBack, AdaptFailed:
	default:
		return fmt.Errorf("%w: unknown adaptation stage %q", ErrSchema, w.Stage)
	}
	t, err := parseTime("time", w.Time)
	if err != nil {
		return err
	}
	*a = Adaptation(w.adaptationPlain)
	a.Time = t
	return nil
}
