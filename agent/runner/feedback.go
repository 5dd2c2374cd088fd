package runner

import (
	"context"
	"fmt"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/feedback"
	"github.com/ood-agent/ood-agent/model/detect"
)

// recorderQueue is how many feedback records may wait for the disk: the
// frame loop never waits for the store's fsyncs.
const recorderQueue = 8

// startFeedback opens the feedback store in the state directory, its
// recorder and the MQTT service that takes operators' labels. It runs
// after the MQTT client exists and subscribes before the client runs.
func (a *Agent) startFeedback() error {
	fc := a.cfg.Feedback
	cfg := feedback.Config{Enabled: fc.Enabled, MaxFlagged: fc.MaxFlagged, Reservoir: fc.Reservoir,
		MaxBytes: fc.MaxBytes, Evidence: fc.Evidence, Float16: fc.Float16}
	log := a.log.With("component", "feedback")
	opts, err := cfg.Options(a.stateDir(), log)
	if err != nil {
		return err
	}
	store, err := feedback.Open(opts)
	if err != nil {
		return fmt.Errorf("feedback: %w", err)
	}
	// Labels must be signed by the hub whenever the agent obeys it.
	var keys control.KeyRing
	if a.cfg.Control.Enabled() {
		if keys, err = control.ParseKeyRing(a.cfg.Control.TrustedKeys); err != nil {
			store.Close()
			return fmt.Errorf("feedback: %w", err)
		}
	}
	svc, err := feedback.NewService(feedback.ServiceOptions{Prefix: a.cfg.MQTT.TopicPrefix, Device: a.cfg.DeviceID,
		Labeler: store, Transport: a.client, Keys: keys, Log: log, Classes: func() []string { return a.active().det.Labels() }})
	if err != nil {
		store.Close()
		return err
	}
	if err := svc.Subscribe(context.Background()); err != nil {
		store.Close()
		return err
	}
	a.feedbackStore = store
	a.feedback = feedback.NewRecorder(store, recorderQueue, log)
	a.Add("feedback", svc.Run)
	a.Add("feedback-store", a.feedback.Run)
	return nil
}

// recordFeedback keeps what an operator may label later: every flagged
// frame with its alert id, and a uniform sample of the others. The
// recorder copies the detector's buffers, which the next frame overwrites.
func (a *Agent) recordFeedback(m *activeModel, r detect.Result, msgs []event.Message, d decoded, threshold float64, isOOD bool, evidence []byte) {
	rec := feedback.Record{Time: d.frame.Time, Source: a.cfg.Source.Type, Frame: d.frame.Origin, Model: m.id.SHA256,
		Class: r.Label, Label: r.LabelName, Score: r.IDScore, Threshold: threshold, Logits: m.det.Logits()}
	if f, err := m.det.Features(); err == nil {
		rec.Features = f
	}
	for i := range msgs {
		if t := msgs[i].Type; t == event.TypeAlert || t == event.TypeEventStart {
			flagged := rec
			flagged.AlertID = msgs[i].ID
			if a.cfg.Feedback.Evidence {
				flagged.JPEG = evidence
			}
			a.feedback.Flagged(flagged)
		}
	}
	if !isOOD {
		if t := a.feedback.Draw(); t.Keep() {
			a.feedback.Unflagged(t, rec)
		}
	}
}
