package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/feedback"
	"github.com/ood-agent/ood-agent/agent/outbox"
	"github.com/ood-agent/ood-agent/agent/rollout"
	"github.com/ood-agent/ood-agent/internal/atomicfile"
	"github.com/ood-agent/ood-agent/model/adapt"
)

// adaptStateFile, in the state directory, remembers up to which label
// time the feedback has been used, so that a restart neither repeats an
// adaptation nor loses the labels that came after it.
const adaptStateFile = "adapt.json"

// adaptVersionPrefix starts the version of every model the agent adapts
// itself ("adapt-<UTC time>").
const adaptVersionPrefix = "adapt-"

// adaptSwitch is the adaptation being switched to, whose training its
// later stages report too.
type adaptSwitch struct {
	version  string
	training *event.AdaptTraining
}

type adaptState struct {
	// Used is the time of the newest label the last adaptation saw,
	// whether it produced a model or kept the current one.
	Used time.Time `json:"used"`
}

// runAdapt counts new labels every adapt.interval and adapts when there
// are adapt.min_labels of them. It runs in the agent's run group.
//
// A failure is published as a failed adaptation once, not at every
// interval while it lasts (the labels wait, so the same error comes back
// until someone fixes its cause); a different error, or the same one after
// an adaptation that went through, is published again.
func (a *Agent) runAdapt(ctx context.Context) error {
	t := a.clock.NewTicker(a.cfg.Adapt.Interval)
	defer t.Stop()
	var failures adaptFailures
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		err := a.adaptOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			a.log.Warn("adaptation failed; the current model stays", "err", err)
		}
		if failures.publish(err) {
			a.publishAdaptation(adaptVersionPrefix+a.clock.Now().UTC().Format("20060102T150405Z"), event.AdaptFailed, err.Error(), nil)
		}
	}
}

// adaptFailures decides which adaptation errors are published: each
// error once while it repeats, again once it changes or after an
// adaptation that went through (nil), and never one whose failed stage
// is already out (adaptReported).
type adaptFailures struct{ last string }

func (f *adaptFailures) publish(err error) bool {
	var told adaptReported
	switch {
	case err == nil:
		f.last = ""
		return false
	case errors.As(err, &told) || err.Error() == f.last:
		return false
	}
	f.last = err.Error()
	return true
}

// adaptReported marks an adaptation error whose failed stage is already
// published (the rollout manager reports a failure to stage or self-test).
type adaptReported struct{ error }

func (e adaptReported) Unwrap() error { return e.error }

// adaptOnce retrains the active model's last layer on the feedback store
// when enough new labels wait, and hands the result to the frame loop
// through the rollout manager: staged, self-tested, then switched and
// watched, and rolled back if it flags too many frames.
func (a *Agent) adaptOnce(ctx context.Context) error {
	statePath := filepath.Join(a.stateDir(), adaptStateFile)
	var st adaptState
	if data, err := os.ReadFile(statePath); err == nil {
		if err := json.Unmarshal(data, &st); err != nil {
			return fmt.Errorf("%s: %w", statePath, err)
		}
	}
	newest, fresh := st.Used, 0
	for _, e := range a.feedbackStore.List() {
		if e.Label != nil && e.Label.Time.After(st.Used) {
			fresh++
			if e.Label.Time.After(newest) {
				newest = e.Label.Time
			}
		}
	}
	if fresh < a.cfg.Adapt.MinLabels {
		a.log.Debug("adapt: waiting for labels", "new", fresh, "min_labels", a.cfg.Adapt.MinLabels)
		return nil
	}
	if phase := a.fleet.mgr.State().Phase; phase == rollout.PhaseSwapping || phase == rollout.PhaseWatching {
		return nil // a rollout is being watched: adapt after it
	}
	m := a.active()
	lines, err := a.feedbackStore.Features()
	if err != nil {
		return err
	}
	// Vectors of an earlier model do not fit this one's layer.
	var own []feedback.FeatureLine
	for _, l := range lines {
		if l.Model == m.id.SHA256 {
			own = append(own, l)
		}
	}
	id, outliers, err := feedback.Samples(own, m.id.SHA256, m.det.Labels())
	if err != nil {
		return err
	}
	a.log.Info("adapting the model to the field labels", "new_labels", fresh, "id_samples", len(id), "confirmed_ood", len(outliers))
	res, err := adapt.Adapt(ctx, m.det, id, outliers, a.cfg.Adapt.TPR, adapt.Options{MaxAccuracyDrop: a.cfg.Adapt.MaxAccuracyDrop, Threads: a.cfg.Adapt.Threads})
	used := func() error {
		data, _ := json.Marshal(adaptState{Used: newest})
		return atomicfile.WriteFile(statePath, data, 0o600)
	}
	version := adaptVersionPrefix + a.clock.Now().UTC().Format("20060102T150405Z")
	rep := res.Report
	training := &event.AdaptTraining{Labels: fresh, IDSamples: len(id), ConfirmedOOD: len(outliers),
		AccuracyBefore: rep.AccuracyBefore, AccuracyAfter: rep.AccuracyAfter, Folds: rep.Folds, Step: rep.Step}
	if errors.Is(err, adapt.ErrAccuracyDrop) {
		a.log.Warn("adapted model refused; the current model stays", "err", err)
		a.publishAdaptation(version, event.AdaptRefused, err.Error(), training)
		return used()
	}
	if err != nil {
		return err
	}
	var calib bytes.Buffer
	if err := res.Calibration.Write(&calib); err != nil {
		return err
	}
	// The manager reports a failure to stage or self-test (adaptProgress
	// publishes it); the later stages find the training here.
	a.adaptSwitch.Store(&adaptSwitch{version: version, training: training})
	c, err := a.fleet.mgr.PrepareLocal(version, res.Model, calib.Bytes())
	if errors.Is(err, rollout.ErrBusy) {
		used()
		return err
	}
	if err != nil {
		used()
		return adaptReported{err}
	}
	// Switching goes into the outbox before the frame loop can take the
	// model, so that its committed or rolled_back cannot come first.
	a.publishAdaptation(version, event.AdaptSwitching, "", training)
	if !a.fleet.swapper.Offer(c) {
		c.Close()
		err := errors.New("another model is waiting to be switched to")
		a.publishAdaptation(version, event.AdaptFailed, err.Error(), training)
		return adaptReported{err}
	}
	a.log.Info("adapted model ready; switching to it between frames", "version", version,
		"accuracy_before", rep.AccuracyBefore, "accuracy_after", rep.AccuracyAfter, "held_out", rep.HeldOut, "folds", rep.Folds, "hinge_weight", rep.Lambda, "step", rep.Step)
	return used()
}

// adaptProgress publishes the end of an adaptation the frame loop
// switched to — committed or rolled back — or of one that could not be
// staged or self-tested. The rollout manager reports these steps for
// every rollout no command started; those of the agent's own
// adaptations are told apart by their version.
func (a *Agent) adaptProgress(p rollout.Progress) {
	if !strings.HasPrefix(p.Version, adaptVersionPrefix) {
		return
	}
	stage := map[rollout.Phase]event.AdaptStage{
		rollout.PhaseCommitted: event.AdaptCommitted, rollout.PhaseRolledBack: event.AdaptRolledBack, rollout.PhaseFailed: event.AdaptFailed,
	}[p.Phase]
	if stage == "" {
		return
	}
	var training *event.AdaptTraining
	if s := a.adaptSwitch.Load(); s != nil && s.version == p.Version {
		training = s.training // nil after a restart since the switch
	}
	a.publishAdaptation(p.Version, stage, p.Message, training)
}

// publishAdaptation sends an adaptation stage through the outbox, like an
// alert: the people who labelled the alerts should learn what came of
// their labels even across a broker outage.
func (a *Agent) publishAdaptation(version string, stage event.AdaptStage, message string, training *event.AdaptTraining) {
	now := a.clock.Now()
	ad := event.Adaptation{ID: a.ids.NewAt(now), DeviceID: a.cfg.DeviceID, Time: now, Version: version, Stage: stage,
		Message: message, Model: a.active().id, Training: training}
	payload, err := json.Marshal(ad)
	if err != nil {
		a.log.Error("encode adaptation message", "err", err)
		return
	}
	a.writer.Put([]outbox.Message{{ID: ad.ID, Topic: a.topics.Adaptation(), Payload: payload, QoS: byte(a.cfg.MQTT.QoS), Created: now}}, nil)
}
