package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ood-agent/ood-agent/agent/feedback"
	"github.com/ood-agent/ood-agent/agent/rollout"
	"github.com/ood-agent/ood-agent/internal/atomicfile"
	"github.com/ood-agent/ood-agent/model/adapt"
)

// adaptStateFile, in the state directory, remembers up to which label
// time the feedback has been used, so that a restart neither repeats an
// adaptation nor loses the labels that came after it.
const adaptStateFile = "adapt.json"

type adaptState struct {
	// Used is the time of the newest label the last adaptation saw,
	// whether it produced a model or kept the current one.
	Used time.Time `json:"used"`
}

// runAdapt counts new labels every adapt.interval and adapts when there
// are adapt.min_labels of them. It runs in the agent's run group.
func (a *Agent) runAdapt(ctx context.Context) error {
	t := a.clock.NewTicker(a.cfg.Adapt.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		if err := a.adaptOnce(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("adaptation failed; the current model stays", "err", err)
		}
	}
}

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
	if errors.Is(err, adapt.ErrAccuracyDrop) {
		a.log.Warn("adapted model refused; the current model stays", "err", err)
		return used()
	}
	if err != nil {
		return err
	}
	var calib bytes.Buffer
	if err := res.Calibration.Write(&calib); err != nil {
		return err
	}
	version := "adapt-" + a.clock.Now().UTC().Format("20060102T150405Z")
	c, err := a.fleet.mgr.PrepareLocal(version, res.Model, calib.Bytes())
	if err != nil {
		used()
		return err
	}
	if !a.fleet.swapper.Offer(c) {
		c.Close()
		return errors.New("another model is waiting to be switched to")
	}
	rep := res.Report
	a.log.Info("adapted model ready; switching to it between frames", "version", version,
		"accuracy_before", rep.AccuracyBefore, "accuracy_after", rep.AccuracyAfter, "held_out", rep.HeldOut, "folds", rep.Folds, "hinge_weight", rep.Lambda, "step", rep.Step)
	return used()
}
