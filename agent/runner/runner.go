package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ood-agent/ood-agent/agent/backoff"
	"github.com/ood-agent/ood-agent/agent/clock"
	"github.com/ood-agent/ood-agent/agent/deliver"
	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/feedback"
	"github.com/ood-agent/ood-agent/agent/homeassistant"
	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/agent/outbox"
	"github.com/ood-agent/ood-agent/agent/rollout"
	"github.com/ood-agent/ood-agent/agent/source"
	"github.com/ood-agent/ood-agent/config"
	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/preprocess"
)

// Options are what New needs besides the configuration.
type Options struct {
	Config  *config.Config
	Logger  *slog.Logger
	Version string
	// Model and Calibration are the resolved model file and its
	// calibration (the command resolves paths and the embedded model).
	Model       *model.File
	Calibration *ood.Calibration
	// Source overrides the configured source (tests, the demo).
	Source source.Source
	// LogLevel, when set, is adjusted on reload.
	LogLevel *slog.LevelVar
	// Clock is for tests; nil means the system clock.
	Clock clock.Clock
	// LoadConfig reads the configuration again, as SIGHUP does, for the
	// reload command; nil makes that command unsupported.
	LoadConfig func() (*config.Config, error)
}

// Agent is a configured agent, ready to Run.
type Agent struct {
	cfg     *config.Config
	log     *slog.Logger
	level   *slog.LevelVar
	version string
	decider *event.Decider
	topics  event.Topics
	ids     *event.IDGenerator
	clock   clock.Clock
	ob      *outbox.Outbox
	client  *mqtt.Client
	src     source.Source
	ledger  *source.Ledger // nil unless the source keeps one
	limits  preprocess.Limits
	writer  *deliver.Writer
	sender  *deliver.Sender
	parts   []part
	started time.Time

	modelMu sync.RWMutex
	model   *activeModel // swapped by the frame loop only
	// fleet is the remote control, nil when control is off.
	fleet    *fleet
	feedback *feedback.Recorder // nil unless feedback.enabled
	// adaptSwitch is the adaptation last offered to the frame loop.
	adaptSwitch atomic.Pointer[adaptSwitch]
	// feedbackStore is the recorder's store, which adapt.enabled reads.
	feedbackStore *feedback.Store
	paused        atomic.Bool
	snapshots     chan string // ids of snapshot commands waiting for a frame
	loadConfig    func() (*config.Config, error)

	decision  atomic.Pointer[ood.Decision] // calibration with decision.threshold
	running   atomic.Bool
	pipeline  atomic.Bool
	lastFrame atomic.Int64 // unix nanos of the last processed frame

	metrics
	win  *window
	pump *source.Pump // set in Run before any goroutine reads it
}

// part is a long-lived component run in the agent's group.
type part struct {
	name string
	run  func(context.Context) error
}

// New builds an agent: it checks the calibration against the model, builds
// the detector, the decider, the outbox and the MQTT client. Nothing runs
// until Run.
func New(opts Options) (_ *Agent, err error) {
	cfg := opts.Config
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Model == nil {
		return nil, errors.New("runner: no model")
	}
	if opts.Calibration == nil {
		return nil, fmt.Errorf("model %s has no calibration: run 'ood-agent calibrate' on held-out in-distribution data and set model.calibration", opts.Model.Name)
	}
	method, err := ood.ParseMethod(cfg.Model.Score)
	if err != nil {
		return nil, fmt.Errorf("model.score: %w", err)
	}
	if method != opts.Calibration.Method {
		return nil, fmt.Errorf("model.score is %s but the calibration was made for %s: recalibrate with --score %s", method, opts.Calibration.Method, method)
	}
	a := &Agent{cfg: cfg, log: log, level: opts.LogLevel, version: opts.Version, clock: clock.OrReal(opts.Clock),
		snapshots: make(chan string, 4), loadConfig: opts.LoadConfig}
	a.started = a.clock.Now()
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	a.limits = preprocess.Limits{MaxBytes: int(cfg.Preprocess.MaxBytes), MaxPixels: int(cfg.Preprocess.MaxPixels)}
	detOpts := detect.Options{
		Threads: cfg.Model.Threads,
		Logger:  log,
		Preprocess: preprocess.Options{
			Crop: preprocess.Crop(cfg.Preprocess.Crop), Color: cfg.Preprocess.Color,
			Mean: toF32(cfg.Preprocess.Mean), Std: toF32(cfg.Preprocess.Std),
		},
	}
	file, calib, version := opts.Model, opts.Calibration, ""
	// Remote control and the agent's own adaptation both switch models
	// through the rollout manager.
	if cfg.Control.Enabled() || cfg.Adapt.Enabled {
		if file, calib, version, err = a.openRollout(detOpts, file, calib); err != nil {
			return nil, err
		}
	}
	detOpts.Calibration = calib
	det, err := detect.New(file, detOpts)
	if err != nil {
		return nil, err
	}
	a.model = &activeModel{det: det, calib: calib, version: version, id: event.Model{Name: filepath.Base(file.Name), SHA256: file.SHA256()}}
	if version == "" {
		a.setThreshold(cfg.Decision.Threshold)
	} else {
		// decision.threshold is in the units of the configured model's
		// calibration; the rolled-out one brings its own.
		a.setThreshold(nil)
	}

	if a.topics, err = event.NewTopics(cfg.MQTT.TopicPrefix, cfg.DeviceID); err != nil {
		return nil, err
	}
	a.ids = event.NewIDGenerator(a.clock)
	settings, err := decisionSettings(cfg.Decision)
	if err != nil {
		return nil, err
	}
	a.decider, err = event.NewDecider(settings, event.Options{DeviceID: cfg.DeviceID, Clock: a.clock, IDs: a.ids, Model: a.model.id})
	if err != nil {
		return nil, err
	}
	if err := a.openSource(opts.Source); err != nil {
		return nil, err
	}

	policy, err := outbox.ParseDropPolicy(cfg.Outbox.DropPolicy)
	if err != nil {
		return nil, fmt.Errorf("outbox.drop_policy: %w", err)
	}
	a.ob, err = outbox.Open(cfg.Outbox.Path, outbox.Options{MaxMessages: cfg.Outbox.MaxMessages, DropPolicy: policy, Logger: log.With("component", "outbox")})
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if a.client, err = a.newClient(); err != nil {
		return nil, err
	}
	if cfg.Control.Enabled() {
		if err := a.startControl(); err != nil {
			return nil, err
		}
	} else if a.fleet != nil {
		// Adaptation alone: its candidates reach the frame loop through
		// the swapper, with no command to report to.
		ctx, cancel := context.WithCancel(context.Background())
		a.fleet.stop = cancel
		a.fleet.swapper = rollout.NewSwapper(ctx, a.fleet.mgr, nil, a.adaptProgress)
	}
	if cfg.Feedback.Enabled {
		if err := a.startFeedback(); err != nil {
			return nil, err
		}
	}
	if cfg.Adapt.Enabled {
		a.Add("adapt", a.runAdapt)
	}
	a.initMetrics()
	// Files can wait; camera frames cannot: only a source whose every
	// input must be handled slows down for a full outbox.
	wopts := deliver.WriterOptions{Backpressure: !a.src.Live(), Logger: log.With("component", "outbox")}
	if a.ledger != nil {
		wopts.Synced = a.ledger.Sync
	}
	a.writer = deliver.NewWriter(a.ob, wopts)
	a.sender = deliver.NewSender(a.ob, a.client, deliver.SenderOptions{
		Backoff:        backoff.Backoff{Initial: cfg.MQTT.BackoffInitial, Max: cfg.MQTT.BackoffMax},
		PublishTimeout: cfg.MQTT.ConnectTimeout + cfg.MQTT.KeepAlive,
		Sent:           func() { a.sent.Inc() },
		Logger:         log.With("component", "sender"),
		Clock:          a.clock,
	})
	return a, nil
}

// openSource opens the configured source (unless one is given) and, for a
// directory, its ledger of handled files next to the outbox, so that a
// restart does not read them again.
func (a *Agent) openSource(src source.Source) error {
	cfg := a.cfg
	if src != nil {
		a.src = src
		return nil
	}
	opts := sourceOptions(cfg, a.model.det.Spec())
	opts.Clock = a.clock
	if opts.Type == source.TypeDir {
		l, err := source.OpenLedger(cfg.Outbox.Path+".dir-ledger", source.LedgerOptions{})
		if err != nil {
			return err
		}
		a.ledger = l
		opts.Dir.Ledger = l
	}
	src, err := source.New(opts, a.log.With("component", "source"))
	if err != nil {
		return err // already names the source
	}
	a.src = src
	return nil
}

func (a *Agent) newClient() (*mqtt.Client, error) {
	cfg := a.cfg
	password, err := cfg.MQTT.ResolvePassword()
	if err != nil {
		return nil, err
	}
	status := a.statusPayload
	c, err := mqtt.New(mqtt.Options{
		Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID, Username: cfg.MQTT.Username, Password: password,
		TLS: mqtt.TLSOptions{
			CAFile: cfg.MQTT.TLS.CAFile, CertFile: cfg.MQTT.TLS.CertFile, KeyFile: cfg.MQTT.TLS.KeyFile,
			ServerName: cfg.MQTT.TLS.ServerName, InsecureSkipVerify: cfg.MQTT.TLS.InsecureSkipVerify,
		},
		KeepAlive: cfg.MQTT.KeepAlive, ConnectTimeout: cfg.MQTT.ConnectTimeout, CleanSession: cfg.MQTT.CleanSession,
		BackoffInitial: cfg.MQTT.BackoffInitial, BackoffMax: cfg.MQTT.BackoffMax, Clock: a.clock,
		Status: &mqtt.Status{Topic: a.topics.Status(), Online: status(event.StateOnline), Offline: status(event.StateOffline),
			Payload: func(online bool) []byte {
				if online {
					return status(event.StateOnline)
				}
				return status(event.StateOffline)
			},
			QoS: byte(cfg.MQTT.QoS)},
		OnConnect: a.homeAssistantDiscovery(),
		Logger:    a.log.With("component", "mqtt"),
	})
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	return c, nil
}

// homeAssistantDiscovery returns the OnConnect hook that (re)publishes the
// retained Home Assistant discovery messages, or nil when discovery is off.
// It names the model the agent started with: the hook runs on the MQTT
// client's goroutine, which must not read the frame loop's model.
func (a *Agent) homeAssistantDiscovery() func(context.Context, *mqtt.Client) error {
	ha := a.cfg.MQTT.HomeAssistant
	if !ha.Discovery {
		return nil
	}
	dev := homeassistant.Device{Prefix: ha.Prefix, Topics: a.topics, Version: a.version, Model: a.model.id}
	return func(ctx context.Context, c *mqtt.Client) error {
		msgs, err := homeassistant.Discovery(dev)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := c.Publish(ctx, m.Topic, m.Payload, 1, m.Retained); err != nil {
				return fmt.Errorf("home assistant discovery %s: %w", m.Topic, err)
			}
		}
		return nil
	}
}

func toF32(v []float64) []float32 {
	if len(v) == 0 {
		return nil
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func decisionSettings(d config.Decision) (event.Settings, error) {
	mode, err := event.ParseMode(d.Mode)
	if err != nil {
		return event.Settings{}, err
	}
	return event.Settings{
		Mode: mode, K: d.Stream.K, N: d.Stream.N, EndAfter: d.Stream.EndAfter,
		Timeout: d.Stream.Timeout, UpdateInterval: d.Stream.UpdateInterval, Cooldown: d.Stream.Cooldown,
	}, nil
}

func (a *Agent) close() {
	if a.src != nil {
		a.src.Close()
	}
	if a.ledger != nil {
		if err := a.ledger.Close(); err != nil {
			a.log.Warn("dir ledger", "err", err)
		}
	}
	if a.ob != nil {
		a.ob.Close()
	}
	if a.fleet != nil {
		if a.fleet.stop != nil {
			a.fleet.stop()
		}
		if a.fleet.previous != nil {
			a.fleet.previous.det.Close()
		}
	}
	if a.model != nil {
		a.model.det.Close()
	}
}

// Reload applies the reloadable part of a new configuration (decision
// settings, threshold, log level). Changes to other keys need a restart and
// are reported in the returned error, after the reloadable ones are applied.
func (a *Agent) Reload(cfg *config.Config) error {
	notify(a.log, "RELOADING=1")
	defer notify(a.log, "READY=1")
	settings, err := decisionSettings(cfg.Decision)
	if err != nil {
		return err
	}
	msgs, err := a.decider.SetSettings(settings)
	if err != nil {
		return err
	}
	a.enqueue(msgs, nil, nil)
	if v := a.active().version; v == "" {
		a.setThreshold(cfg.Decision.Threshold)
	} else if cfg.Decision.Threshold != nil {
		a.log.Warn("decision.threshold not applied: the rolled-out model uses its own calibration (set_threshold changes it)", "version", v)
	}
	if a.level != nil {
		a.level.Set(cfg.Log.SlogLevel())
	}
	_, changed := config.Diff(a.cfg, cfg)
	var restart []string
	for _, k := range changed {
		if !config.IsReloadable(k) {
			restart = append(restart, k)
		}
	}
	a.log.Info("configuration reloaded", "mode", settings.Mode, "threshold", a.idThreshold(), "changed", changed)
	if len(restart) > 0 {
		return fmt.Errorf("applied the decision settings; these keys need a restart: %v", restart)
	}
	return nil
}

// Healthy reports whether the agent is running its pipeline.
func (a *Agent) Healthy() bool { return a.running.Load() }

// Add registers another long-lived part, such as a configuration watcher,
// to run in the agent's group: it starts with the others, and its context
// ends when the agent stops. An error other than context.Canceled stops
// the agent. Call Add before Run.
func (a *Agent) Add(name string, run func(context.Context) error) {
	a.parts = append(a.parts, part{name, run})
}

// sourceOptions maps the configuration to the frame source's options. Camera
// frames are scaled by ffmpeg straight to the model's input size (centre
// cropped when the crop policy is center), which saves decoding full frames.
func sourceOptions(cfg *config.Config, spec preprocess.Spec) source.Options {
	s := cfg.Source
	return source.Options{
		Type: s.Type, FPS: s.FPS, Queue: s.Queue,
		Dir: source.DirOptions{Path: s.Dir.Path, Pattern: s.Dir.Pattern, Watch: s.Dir.Watch, Recursive: s.Dir.Recursive, MaxBytes: cfg.Preprocess.MaxBytes},
		HTTP: source.HTTPOptions{
			URL: s.HTTP.URL, Interval: s.HTTP.Interval, Timeout: s.HTTP.Timeout, MaxBytes: s.HTTP.MaxBytes,
			Username: s.HTTP.Username, Password: s.HTTP.Password.Reveal(), BearerToken: s.HTTP.BearerToken.Reveal(), CAFile: s.HTTP.CAFile,
		},
		FFmpeg: source.FFmpegOptions{
			Input: s.FFmpeg.Input, InputArgs: s.FFmpeg.InputArgs, FPS: s.FFmpeg.FPS, Binary: s.FFmpeg.Binary,
			Width: spec.Width, Height: spec.Height, KeepAspect: spec.Crop == preprocess.CropCenter,
		},
		Stdin: source.StdinOptions{Reader: os.Stdin, MaxBytes: int(cfg.Preprocess.MaxBytes), Origin: "stdin"},
	}
}
