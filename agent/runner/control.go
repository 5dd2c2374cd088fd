package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"path/filepath"
	"sync"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/outbox"
	"github.com/ood-agent/ood-agent/agent/rollout"
	"github.com/ood-agent/ood-agent/config"
	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/preprocess"
)

// controlConfig converts the configuration's control section, which
// mirrors them, to the control and rollout packages' own configurations.
func controlConfig(c config.Control) (control.Config, rollout.Config) {
	r := c.Rollout
	return control.Config{TrustedKeys: c.TrustedKeys, Groups: c.Groups, ClockSkew: c.ClockSkew, MaxTTL: c.MaxTTL},
		rollout.Config{HubURL: r.HubURL, CAFile: r.CAFile, AllowHTTP: r.AllowHTTP, SelfTestTolerance: r.SelfTestTolerance,
			SelfTestFrames: r.SelfTestFrames, WatchFrames: r.WatchFrames, MaxOODRate: r.MaxOODRate}
}

// fleet is the agent's remote control; nil when control is off. The
// service and the swapper run outside the frame loop and hand work to it
// through the swapper and the snapshot queue; the frame loop alone
// touches the detectors.
type fleet struct {
	cfg     control.Config
	mgr     *rollout.Manager
	service *control.Service
	swapper *rollout.Swapper
	kept    *frameRing
	stop    context.CancelFunc // ends the swapper's background work

	// previous is the model a watched rollout replaced, kept for a
	// rollback; touched by the frame loop only.
	previous *activeModel
}

// activeModel is what the frame loop classifies with.
type activeModel struct {
	det     *detect.Detector
	calib   *ood.Calibration
	id      event.Model
	version string   // rollout version; "" for the configured model
	thresh  *float64 // threshold override, in decision.threshold units
}

// stateDir is where the agent keeps its state: next to the outbox.
func (a *Agent) stateDir() string { return filepath.Dir(a.cfg.Outbox.Path) }

// openRollout opens the rollout manager and returns the model to start
// with: the rolled-out one when a rollout installed one, else the
// configured one.
func (a *Agent) openRollout(detOpts detect.Options, file *model.File, calib *ood.Calibration) (*model.File, *ood.Calibration, string, error) {
	ccfg, rcfg := controlConfig(a.cfg.Control)
	if err := ccfg.Validate(); err != nil {
		return nil, nil, "", err
	}
	if err := rcfg.Validate(); err != nil {
		return nil, nil, "", err
	}
	ring, err := control.ParseKeyRing(ccfg.TrustedKeys)
	if err != nil {
		return nil, nil, "", fmt.Errorf("control: %w", err)
	}
	f := &fleet{cfg: ccfg, kept: newFrameRing(rcfg.SelfTestFrames, a.limits)}
	f.mgr, err = rollout.Open(rollout.Options{
		Dir: filepath.Join(a.stateDir(), "models"), Keys: ring, Config: rcfg, AgentVersion: a.version,
		Detect: detOpts, SelfTestFrames: f.kept.images, Log: a.log,
	})
	if err != nil {
		return nil, nil, "", err
	}
	a.fleet = f
	cur, ok := f.mgr.Current()
	if !ok {
		return file, calib, "", nil
	}
	rf, err := model.Open(cur.ModelPath)
	if err != nil {
		return nil, nil, "", fmt.Errorf("rolled-out model %s: %w", cur.Version, err)
	}
	rc, err := ood.Load(cur.CalibrationPath)
	if err != nil {
		return nil, nil, "", fmt.Errorf("rolled-out model %s: %w", cur.Version, err)
	}
	if err := rc.CheckModel(rf.SHA256()); err != nil {
		return nil, nil, "", fmt.Errorf("rolled-out model %s: %w", cur.Version, err)
	}
	a.log.Info("running the rolled-out model instead of model.path", "version", cur.Version, "sha256", rf.SHA256())
	return rf, rc, cur.Version, nil
}

// startControl builds the verifier, the service and the swapper once the
// MQTT client exists, and subscribes before the client runs so that a
// persistent session's queued commands are not lost.
func (a *Agent) startControl() error {
	f := a.fleet
	vopts, err := f.cfg.VerifierOptions(a.cfg.DeviceID, a.stateDir())
	if err != nil {
		return err
	}
	v, err := control.NewVerifier(vopts)
	if err != nil {
		return err
	}
	f.service, err = control.NewService(control.ServiceOptions{
		Prefix: a.cfg.MQTT.TopicPrefix, Verifier: v, Handler: control.HandlerFunc(a.apply),
		Transport: a.client, Log: a.log,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	f.swapper = rollout.NewSwapper(ctx, f.mgr, f.service.Report, a.adaptProgress)
	if err := f.service.Subscribe(ctx); err != nil {
		return err
	}
	a.Add("control", f.service.Run)
	return nil
}

// Settings are the effective settings reported in command results.
type Settings struct {
	DeviceID  string  `json:"device_id"`
	Paused    bool    `json:"paused"`
	Method    string  `json:"method"`
	Threshold float64 `json:"threshold"` // in decision.threshold units
	// Overridden is true when the threshold is not the calibration's.
	Overridden bool          `json:"overridden"`
	Mode       string        `json:"mode"`
	K          int           `json:"k"`
	N          int           `json:"n"`
	EndAfter   int           `json:"end_after"`
	CooldownS  float64       `json:"cooldown_s"`
	TimeoutS   float64       `json:"timeout_s"`
	UpdateS    float64       `json:"update_interval_s"`
	Model      event.Model   `json:"model"`
	Version    string        `json:"model_version,omitempty"` // rollout version
	Rollout    *RolloutState `json:"rollout,omitempty"`
	Config     string        `json:"config,omitempty"` // report_config: the YAML, secrets redacted
}

// RolloutState is the rollout manager's state as reported.
type RolloutState struct {
	Phase   string `json:"phase"`
	Version string `json:"version,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// settings returns the effective settings.
func (a *Agent) settings() Settings {
	m := a.active()
	d := a.decision.Load()
	s := a.decider.Settings()
	th := d.Threshold
	if e, ok := d.EnergyThreshold(); ok {
		th = e
	}
	out := Settings{
		DeviceID: a.cfg.DeviceID, Paused: a.paused.Load(), Method: string(d.Method), Threshold: th, Overridden: d.Overridden,
		Mode: string(s.Mode), K: s.K, N: s.N, EndAfter: s.EndAfter,
		CooldownS: s.Cooldown.Seconds(), TimeoutS: s.Timeout.Seconds(), UpdateS: s.UpdateInterval.Seconds(),
		Model: m.id, Version: m.version,
	}
	if a.fleet != nil {
		st := a.fleet.mgr.State()
		out.Rollout = &RolloutState{Phase: string(st.Phase), Version: st.Version, Reason: st.Reason}
	}
	return out
}

// apply carries out a verified command; it runs on the control service's
// goroutine and hands anything the frame loop must do to it.
func (a *Agent) apply(_ context.Context, cmd control.Command) (control.Outcome, error) {
	switch cmd.Type {
	case control.TypeSetThreshold:
		args := cmd.Args.(*control.SetThresholdArgs)
		v := args.Threshold
		if args.TargetTPR != nil {
			calib := a.active().calib
			t, err := control.ThresholdForTPR(calib.Summary, *args.TargetTPR)
			if err != nil {
				return control.Outcome{}, err
			}
			if calib.Method == ood.MethodEnergy {
				t = -t // the summary is of −E; the override is an energy
			}
			v = &t
		}
		a.setThreshold(v)
		s := a.settings()
		return control.Outcome{Message: fmt.Sprintf("threshold %g", s.Threshold), Settings: s}, nil
	case control.TypeSetDecision:
		if err := a.setDecision(cmd.Args.(*control.SetDecisionArgs)); err != nil {
			return control.Outcome{}, err
		}
		s := a.settings()
		return control.Outcome{Message: "decision settings changed", Settings: s}, nil
	case control.TypePause:
		a.paused.Store(true)
		a.log.Info("paused by command", "id", cmd.ID)
		return control.Outcome{Message: "paused", Settings: a.settings()}, nil
	case control.TypeResume:
		a.paused.Store(false)
		a.log.Info("resumed by command", "id", cmd.ID)
		return control.Outcome{Message: "resumed", Settings: a.settings()}, nil
	case control.TypeSnapshot:
		select {
		case a.snapshots <- cmd.ID:
		default:
			return control.Outcome{}, errors.New("too many snapshots waiting for a frame")
		}
		return control.Outcome{Stage: "accepted", Message: "the next frame follows as evidence", Settings: a.settings()}, nil
	case control.TypeReload:
		if a.loadConfig == nil {
			return control.Outcome{}, fmt.Errorf("reload: the agent has no configuration file: %w", control.ErrUnsupported)
		}
		cfg, err := a.loadConfig()
		if err != nil {
			return control.Outcome{}, fmt.Errorf("reload rejected; keeping the running configuration: %w", err)
		}
		err = a.Reload(cfg)
		return control.Outcome{Message: "configuration reloaded", Settings: a.settings()}, err
	case control.TypeReportConfig:
		s := a.settings()
		s.Config = a.cfg.String()
		return control.Outcome{Message: "effective configuration, secrets redacted", Settings: s}, nil
	case control.TypeRollout:
		return a.fleet.swapper.Start(cmd)
	}
	return control.Outcome{}, fmt.Errorf("%s: %w", cmd.Type, control.ErrUnsupported)
}

// setDecision changes the decision settings that args sets.
func (a *Agent) setDecision(args *control.SetDecisionArgs) error {
	s := a.decider.Settings()
	if args.Mode != nil {
		m, err := event.ParseMode(*args.Mode)
		if err != nil {
			return err
		}
		s.Mode = m
	}
	for _, f := range []struct {
		v   *int
		dst *int
	}{{args.K, &s.K}, {args.N, &s.N}, {args.EndAfter, &s.EndAfter}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	for _, f := range []struct {
		v   *float64
		dst *time.Duration
	}{{args.CooldownS, &s.Cooldown}, {args.TimeoutS, &s.Timeout}, {args.UpdateIntervalS, &s.UpdateInterval}} {
		if f.v != nil {
			*f.dst = time.Duration(*f.v * float64(time.Second))
		}
	}
	msgs, err := a.decider.SetSettings(s)
	if err != nil {
		return err
	}
	a.enqueue(msgs, nil, nil)
	return nil
}

// takeSnapshot publishes img as the evidence of a snapshot command, if
// one waits. It runs in the frame loop.
func (a *Agent) takeSnapshot(img image.Image, origin string) {
	var id string
	select {
	case id = <-a.snapshots:
	default:
		return
	}
	ev := a.cfg.MQTT.Evidence
	jpeg, err := event.EncodeEvidence(img, ev.MaxBytes, ev.Quality)
	r := control.Result{ID: id, Type: control.TypeSnapshot, OK: err == nil, Stage: "published"}
	if err != nil {
		r.Code, r.Message = control.CodeApplyFailed, fmt.Sprintf("snapshot: %v", err)
	} else {
		topic := a.topics.Evidence("snapshot-" + id)
		r.Message = topic
		r.Settings = map[string]any{"topic": topic, "bytes": len(jpeg), "frame": origin}
		// Through the outbox, like alert evidence: it survives a broker
		// outage and a restart.
		a.writer.Put([]outbox.Message{{ID: "snapshot/" + id, Topic: topic, Payload: jpeg, QoS: 1, Created: a.clock.Now()}}, nil)
	}
	go a.fleet.service.Report(context.Background(), r)
}

// swapIfReady activates a candidate the swapper prepared. It runs in the
// frame loop, between two frames.
func (a *Agent) swapIfReady() {
	f := a.fleet
	c, ok := f.swapper.Take()
	if !ok {
		return
	}
	if err := f.mgr.Activate(c); err != nil {
		a.log.Warn("rollout not activated; the old model stays", "version", c.Manifest.Version, "err", err)
		c.Close()
		return
	}
	old := a.active()
	f.previous = old
	// The rolled-out calibration brings its own threshold.
	a.use(&activeModel{det: c.Detector, calib: c.Calibration, version: c.Manifest.Version,
		id: event.Model{Name: filepath.Base(c.Installed.ModelPath), SHA256: c.File.SHA256()}})
	a.log.Info("switched to the rolled-out model", "version", c.Manifest.Version, "sha256", c.File.SHA256())
}

// observe passes a frame's decision to the rollout watch and acts on the
// verdict. It runs in the frame loop.
func (a *Agent) observe(isOOD bool) {
	f := a.fleet
	v, err := f.mgr.Observe(isOOD)
	if err != nil {
		a.log.Error("rollout state", "err", err)
	}
	switch v {
	case rollout.VerdictCommit:
		if f.previous != nil {
			f.previous.det.Close()
			f.previous = nil
		}
	case rollout.VerdictRollback:
		a.restorePrevious()
	}
}

// rollbackOnError abandons a watched rollout whose model failed on a
// frame and reports whether the old model is back.
func (a *Agent) rollbackOnError(err error) bool {
	f := a.fleet
	if f == nil || f.previous == nil {
		return false
	}
	if rerr := f.mgr.Rollback(fmt.Sprintf("inference failed on the new model: %v", err)); rerr != nil {
		a.log.Error("rollout rollback", "err", rerr)
	}
	a.restorePrevious()
	return true
}

func (a *Agent) restorePrevious() {
	f := a.fleet
	if f.previous == nil {
		return
	}
	bad := a.active()
	a.use(f.previous)
	f.previous = nil
	bad.det.Close()
	a.log.Warn("rolled back to the previous model", "sha256", a.active().id.SHA256)
}

// use makes m the model the frame loop classifies with, and tells the
// decider and the broker (the retained status names the model).
func (a *Agent) use(m *activeModel) {
	a.modelMu.Lock()
	a.model = m
	d := ood.NewDecision(m.calib, m.thresh)
	a.decision.Store(&d)
	a.modelMu.Unlock()
	a.decider.SetModel(m.id)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.MQTT.ConnectTimeout)
		defer cancel()
		if err := a.client.Publish(ctx, a.topics.Status(), a.statusPayload(event.StateOnline), byte(a.cfg.MQTT.QoS), true); err != nil {
			a.log.Debug("status not republished", "err", err)
		}
	}()
}

// frameRing keeps the last in-distribution frames for a rollout's
// self-test: the encoded bytes when the source gave them (small), else a
// copy of the image (sources that decode, such as ffmpeg, already scale
// to the model's input size).
type frameRing struct {
	mu     sync.Mutex
	limits preprocess.Limits
	frames []keptFrame
	next   int
}

type keptFrame struct {
	data []byte
	img  image.Image
}

func newFrameRing(n int, limits preprocess.Limits) *frameRing {
	return &frameRing{frames: make([]keptFrame, 0, n), limits: limits}
}

func (r *frameRing) add(data []byte, img image.Image) {
	if cap(r.frames) == 0 {
		return
	}
	k := keptFrame{data: bytes.Clone(data)}
	if len(data) == 0 {
		k.img = copyImage(img)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.frames) < cap(r.frames) {
		r.frames = append(r.frames, k)
		return
	}
	r.frames[r.next] = k
	r.next = (r.next + 1) % len(r.frames)
}

// images decodes the kept frames; it runs on the rollout's goroutine.
func (r *frameRing) images() []image.Image {
	r.mu.Lock()
	kept := append([]keptFrame(nil), r.frames...)
	r.mu.Unlock()
	out := make([]image.Image, 0, len(kept))
	for _, k := range kept {
		if k.img != nil {
			out = append(out, k.img)
			continue
		}
		if img, err := preprocess.Decode(k.data, r.limits); err == nil {
			out = append(out, img)
		}
	}
	return out
}

// copyImage copies img, which the source may reuse for its next frame.
func copyImage(img image.Image) image.Image {
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)
	return dst
}

// statusJSON encodes a status message naming the active model.
func (a *Agent) statusPayload(s event.State) []byte {
	st := event.NewStatus(s, a.cfg.DeviceID, a.version, a.active().id, a.clock.Now())
	st.Started = a.started
	b, _ := json.Marshal(st)
	return b
}
