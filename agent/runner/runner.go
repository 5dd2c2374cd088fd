package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	agentclock "github.com/ood-agent/ood-agent/agent/clock"
	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/metrics"
	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/agent/outbox"
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
	// Clock is for tests; nil means the real clock.
	Clock event.Clock
}

// Agent is a configured agent, ready to Run.
type Agent struct {
	cfg     *config.Config
	log     *slog.Logger
	level   *slog.LevelVar
	version string
	file    *model.File
	calib   *ood.Calibration
	det     *detect.Detector
	decider *event.Decider
	topics  event.Topics
	ids     *event.IDGenerator
	clock   event.Clock
	ob      *outbox.Outbox
	client  *mqtt.Client
	src     source.Source
	limits  preprocess.Limits
	modelID event.Model

	threshold atomic.Pointer[float64] // override in ID-score orientation
	running   atomic.Bool
	pipeline  atomic.Bool
	lastFrame atomic.Int64 // unix nanos of the last processed frame

	reg      *metrics.Registry
	frames   *metrics.Counter
	oodCount *metrics.Counter
	skipped  *metrics.Counter
	alerts   *metrics.Counter
	sent     *metrics.Counter
	latency  *metrics.Histogram
	energy   *metrics.Histogram
	win      *window
	pump     *source.Pump // set in Run before any goroutine reads it

	// writes feeds the outbox writer, which commits what has accumulated
	// in one transaction: one disk sync for a burst of alerts instead of
	// one per alert, and inference never waits for the disk.
	writes     chan outbox.Message
	writerDone chan struct{}
	wmu        sync.RWMutex // guards wclosed against a late put
	wclosed    bool

	mu            sync.Mutex // guards the counters below between stats reports
	lastDropped   uint64
	lastSkipped   uint64
	lastObDropped uint64
	lastAlerts    uint64
}

// New builds an agent: it checks the calibration against the model, builds
// the detector, the decider, the outbox and the MQTT client. Nothing runs
// until Run.
func New(opts Options) (*Agent, error) {
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
	clock := opts.Clock
	if clock == nil {
		clock = agentclock.Real{}
	}
	a := &Agent{cfg: cfg, log: log, level: opts.LogLevel, version: opts.Version, file: opts.Model, calib: opts.Calibration, clock: clock}
	a.modelID = event.Model{Name: filepath.Base(opts.Model.Name), SHA256: opts.Model.SHA256()}
	a.limits = preprocess.Limits{MaxBytes: int(cfg.Preprocess.MaxBytes), MaxPixels: int(cfg.Preprocess.MaxPixels)}

	a.det, err = detect.New(opts.Model, detect.Options{
		Threads:     cfg.Model.Threads,
		Calibration: opts.Calibration,
		Preprocess: preprocess.Options{
			Crop: preprocess.Crop(cfg.Preprocess.Crop), Color: cfg.Preprocess.Color,
			Mean: toF32(cfg.Preprocess.Mean), Std: toF32(cfg.Preprocess.Std),
		},
	})
	if err != nil {
		return nil, err
	}
	a.setThreshold(cfg.Decision.Threshold)

	a.topics, err = event.NewTopics(cfg.MQTT.TopicPrefix, cfg.DeviceID)
	if err != nil {
		a.det.Close()
		return nil, err
	}
	a.ids = event.NewIDGenerator(clock)
	settings, err := decisionSettings(cfg.Decision)
	if err != nil {
		a.det.Close()
		return nil, err
	}
	a.decider, err = event.NewDecider(settings, event.Options{DeviceID: cfg.DeviceID, Clock: clock, IDs: a.ids, Model: a.modelID})
	if err != nil {
		a.det.Close()
		return nil, err
	}

	a.src = opts.Source
	if a.src == nil {
		a.src, err = source.New(sourceOptions(cfg, a.det.Spec()), log.With("component", "source"))
		if err != nil {
			a.det.Close()
			return nil, err // already names the source
		}
	}

	policy, err := outbox.ParseDropPolicy(cfg.Outbox.DropPolicy)
	if err != nil {
		a.close()
		return nil, fmt.Errorf("outbox.drop_policy: %w", err)
	}
	a.ob, err = outbox.Open(cfg.Outbox.Path, outbox.Options{MaxMessages: cfg.Outbox.MaxMessages, DropPolicy: policy, Logger: log.With("component", "outbox")})
	if err != nil {
		a.close()
		return nil, fmt.Errorf("outbox: %w", err)
	}

	password, err := cfg.MQTT.ResolvePassword()
	if err != nil {
		a.close()
		return nil, err
	}
	online, _ := json.Marshal(event.NewStatus(event.StateOnline, cfg.DeviceID, a.version, a.modelID, clock.Now()))
	offline, _ := json.Marshal(event.NewStatus(event.StateOffline, cfg.DeviceID, a.version, a.modelID, clock.Now()))
	a.client, err = mqtt.New(mqtt.Options{
		Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID, Username: cfg.MQTT.Username, Password: password,
		TLS: mqtt.TLSOptions{
			CAFile: cfg.MQTT.TLS.CAFile, CertFile: cfg.MQTT.TLS.CertFile, KeyFile: cfg.MQTT.TLS.KeyFile,
			ServerName: cfg.MQTT.TLS.ServerName, InsecureSkipVerify: cfg.MQTT.TLS.InsecureSkipVerify,
		},
		KeepAlive: cfg.MQTT.KeepAlive, ConnectTimeout: cfg.MQTT.ConnectTimeout, CleanSession: cfg.MQTT.CleanSession,
		BackoffInitial: cfg.MQTT.BackoffInitial, BackoffMax: cfg.MQTT.BackoffMax,
		Status: &mqtt.Status{Topic: a.topics.Status(), Online: online, Offline: offline, QoS: byte(cfg.MQTT.QoS)},
		Logger: log.With("component", "mqtt"),
	})
	if err != nil {
		a.close()
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	a.initMetrics()
	a.writes = make(chan outbox.Message, 512)
	a.writerDone = make(chan struct{})
	return a, nil
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

// setThreshold applies decision.threshold: for the energy method it is an
// energy (frames with E above it are out of distribution), for the others a
// score (frames below it are). nil restores the calibrated threshold.
func (a *Agent) setThreshold(v *float64) {
	if v == nil {
		a.threshold.Store(nil)
		return
	}
	t := *v
	if a.calib.Method == ood.MethodEnergy {
		t = -t
	}
	a.threshold.Store(&t)
}

// idThreshold is the threshold in ID-score orientation in force now.
func (a *Agent) idThreshold() float64 {
	if t := a.threshold.Load(); t != nil {
		return *t
	}
	return a.calib.Threshold
}

func (a *Agent) close() {
	if a.src != nil {
		a.src.Close()
	}
	if a.ob != nil {
		a.ob.Close()
	}
	a.det.Close()
}

// Reload applies the reloadable part of a new configuration (decision
// settings, threshold, log level). Changes to other keys need a restart and
// are reported in the returned error, after the reloadable ones are applied.
func (a *Agent) Reload(cfg *config.Config) error {
	settings, err := decisionSettings(cfg.Decision)
	if err != nil {
		return err
	}
	msgs, err := a.decider.SetSettings(settings)
	if err != nil {
		return err
	}
	a.enqueue(msgs, nil)
	a.setThreshold(cfg.Decision.Threshold)
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

// Run runs the agent until ctx ends or the source is exhausted (a directory
// without watch, the end of stdin or a file); in the latter case it waits
// until the outbox is delivered. The first component to fail stops the
// others. On the way out it ends open events, flushes the outbox for up to
// the MQTT connect timeout and disconnects with an offline status.
func (a *Agent) Run(ctx context.Context) error {
	defer a.close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	a.running.Store(true)
	defer a.running.Store(false)
	a.pump = source.StartPump(ctx, a.src, source.PumpOptions{FPS: a.cfg.Source.FPS, Queue: a.cfg.Source.Queue})

	go a.writeOutbox()
	snd := &sender{ob: a.ob, pub: a.client, log: a.log.With("component", "sender"), retry: time.Second, maxWait: 30 * time.Second, sent: a.sent.Inc}
	var wg sync.WaitGroup
	start := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("component failed", "component", name, "err", err)
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	// The MQTT client and the sender outlive the pipeline so the outbox
	// can be flushed; they stop with mqttCtx.
	mqttCtx, stopMQTT := context.WithCancel(context.WithoutCancel(ctx))
	var mqttWG sync.WaitGroup
	mqttWG.Add(2)
	go func() {
		defer mqttWG.Done()
		if err := a.client.Run(mqttCtx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("mqtt", "err", err)
		}
	}()
	go func() {
		defer mqttWG.Done()
		if err := snd.run(mqttCtx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("sender", "err", err)
			cancel(err)
		}
	}()
	if a.cfg.HTTP.Listen != "" {
		start("http", a.serveHTTP)
	}
	start("ticker", a.tick)

	a.pipeline.Store(true)
	pipeErr := a.runPipeline(ctx)
	a.pipeline.Store(false)
	if pipeErr != nil && !errors.Is(pipeErr, context.Canceled) {
		cancel(pipeErr)
	}
	// End open events, commit everything to the outbox, then deliver it.
	a.enqueue(a.decider.Shutdown(a.clock.Now()), nil)
	a.closeWriter()
	finished := pipeErr == nil
	flushFor := a.cfg.MQTT.ConnectTimeout
	if finished && ctx.Err() == nil {
		// The source ended: wait for the broker to take everything.
		a.log.Info("source finished; delivering queued messages", "pending", a.ob.Len())
		for a.ob.Len() > 0 && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	} else {
		fctx, fcancel := context.WithTimeout(context.Background(), flushFor)
		for a.ob.Len() > 0 && fctx.Err() == nil && a.client.Connected() {
			time.Sleep(50 * time.Millisecond)
		}
		fcancel()
	}
	if left := a.ob.Len(); left > 0 {
		a.log.Warn("stopping with undelivered messages; they are kept on disk and sent at the next start", "pending", left)
	}
	cancel(nil)
	stopMQTT()
	mqttWG.Wait()
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// decoded is a frame ready for inference.
type decoded struct {
	frame source.Frame
	img   image.Image
}

// runPipeline reads frames, decodes them in one goroutine and classifies
// them in another, so decoding overlaps inference.
func (a *Agent) runPipeline(ctx context.Context) error {
	pump := a.pump
	frames := pump.Frames()
	ready := make(chan decoded, 2)
	go func() {
		defer close(ready)
		for f := range frames {
			img := f.Image
			if img == nil {
				var err error
				img, err = preprocess.Decode(f.Data, a.limits)
				if err != nil {
					a.skipped.Inc()
					a.log.Warn("frame skipped", "origin", f.Origin, "err", err)
					f.Release()
					continue
				}
			}
			select {
			case ready <- decoded{frame: f, img: img}:
			case <-ctx.Done():
				f.Release()
				return
			}
		}
	}()
	for d := range ready {
		a.process(d)
	}
	<-pump.Done()
	if err := pump.Err(); err != nil {
		return err
	}
	return ctx.Err()
}

func (a *Agent) process(d decoded) {
	defer d.frame.Release()
	start := time.Now()
	r, err := a.det.Image(d.img)
	elapsed := time.Since(start)
	if err != nil {
		a.skipped.Inc()
		a.log.Warn("frame skipped", "origin", d.frame.Origin, "err", err)
		return
	}
	threshold := a.idThreshold()
	isOOD := r.IDScore < threshold || math.IsNaN(r.IDScore)
	a.frames.Inc()
	if isOOD {
		a.oodCount.Inc()
	}
	a.latency.Observe(elapsed.Seconds())
	a.energy.Observe(r.Energy)
	a.win.add(float64(elapsed.Microseconds())/1000, r.Energy, isOOD)
	a.lastFrame.Store(time.Now().UnixNano())
	t := d.frame.Time
	if t.IsZero() {
		t = a.clock.Now()
	}
	msgs := a.decider.Observe(event.Observation{
		Time: t, FrameSeq: d.frame.Seq, Origin: d.frame.Origin,
		Label: r.Label, LabelName: r.LabelName, Confidence: r.Confidence,
		Energy: r.Energy, Score: r.IDScore, Threshold: threshold,
		Method: string(a.calib.Method), OOD: isOOD,
	})
	a.enqueue(msgs, d.img)
}

// enqueue writes messages (and their evidence) to the outbox.
func (a *Agent) enqueue(msgs []event.Message, img image.Image) {
	qos := byte(a.cfg.MQTT.QoS)
	for i := range msgs {
		m := &msgs[i]
		if m.Type == event.TypeAlert || m.Type == event.TypeEventStart {
			a.alerts.Inc()
			if ev := a.cfg.MQTT.Evidence; ev.Enabled && img != nil {
				jpeg, err := event.EncodeEvidence(img, ev.MaxBytes, ev.Quality)
				if err != nil {
					a.log.Warn("evidence not attached", "id", m.ID, "err", err)
				} else {
					m.AttachEvidence(a.topics, len(jpeg))
					a.put(outbox.Message{ID: m.ID + "/evidence", Topic: m.Evidence.Topic, Payload: jpeg, QoS: qos, Created: m.Time})
				}
			}
		}
		payload, err := json.Marshal(m)
		if err != nil {
			a.log.Error("encode message", "id", m.ID, "err", err)
			continue
		}
		a.put(outbox.Message{ID: m.ID, Topic: a.topics.Alert(), Payload: payload, QoS: qos, Created: m.Time})
	}
}

// put hands a message to the outbox writer; once the writer has stopped
// (after the pipeline ended) it writes directly.
func (a *Agent) put(m outbox.Message) {
	a.wmu.RLock()
	defer a.wmu.RUnlock()
	if a.wclosed {
		a.commit([]outbox.Message{m})
		return
	}
	a.writes <- m
}

// writeOutbox commits queued messages in groups until closeWriter.
func (a *Agent) writeOutbox() {
	defer close(a.writerDone)
	batch := make([]outbox.Message, 0, 256)
	for m := range a.writes {
		batch = append(batch[:0], m)
	more:
		for len(batch) < cap(batch) {
			select {
			case m, ok := <-a.writes:
				if !ok {
					break more
				}
				batch = append(batch, m)
			default:
				break more
			}
		}
		a.commit(batch)
	}
}

func (a *Agent) commit(batch []outbox.Message) {
	dropped, err := a.ob.PutAll(batch)
	if dropped > 0 {
		a.log.Warn("outbox full: dropped messages", "dropped", dropped, "policy", a.cfg.Outbox.DropPolicy)
	}
	if err != nil && !errors.Is(err, outbox.ErrFull) {
		a.log.Error("outbox write failed", "messages", len(batch), "err", err)
	}
}

// closeWriter stops the writer once it has committed everything queued.
func (a *Agent) closeWriter() {
	a.wmu.Lock()
	if !a.wclosed {
		a.wclosed = true
		close(a.writes)
	}
	a.wmu.Unlock()
	<-a.writerDone
}

// tick drives event timeouts once a second and publishes stats.
func (a *Agent) tick(ctx context.Context) error {
	sec := time.NewTicker(time.Second)
	defer sec.Stop()
	stats := time.NewTicker(a.cfg.MQTT.StatsInterval)
	defer stats.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-sec.C:
			a.enqueue(a.decider.Tick(now), nil)
		case <-stats.C:
			a.publishStats(ctx)
		}
	}
}

// publishStats publishes one stats message for the interval just ended.
// Stats are not queued in the outbox: they describe the present, and while
// the broker is away alerts must not compete with them for space.
func (a *Agent) publishStats(ctx context.Context) {
	now := a.clock.Now()
	s := a.win.take(now)
	st := event.NewStats(a.ids, a.cfg.DeviceID, now, max(s.End.Sub(s.Start), time.Millisecond))
	st.Frames, st.OODFrames = uint64(s.Frames), uint64(s.OOD)
	if s.HaveQuantiles {
		st.Inference = &event.LatencyQuantiles{P50: s.Latency[0], P90: s.Latency[1], P99: s.Latency[2]}
		st.Energy = &event.EnergyQuantiles{P05: s.Energy[0], P50: s.Energy[1], P95: s.Energy[2]}
	}
	st.Calibration = event.CalibrationInfo{Method: string(a.calib.Method), Threshold: a.idThreshold()}
	if a.calib.Method == ood.MethodEnergy {
		// The calibration summarizes −E; report energies.
		q := a.calib.Summary.Quantiles
		p05, p50, p95 := -q.P95, -q.P50, -q.P05
		st.Calibration.EnergyP05, st.Calibration.EnergyP50, st.Calibration.EnergyP95 = &p05, &p50, &p95
	}
	obs := a.ob.Stats()
	a.mu.Lock()
	counts := a.pump.Stats()
	st.DroppedFrames = counts.Dropped - a.lastDropped
	skipped := a.skipped.Value() + counts.Skipped
	st.SkippedFrames = skipped - a.lastSkipped
	st.OutboxDropped = obs.Dropped - a.lastObDropped
	st.Alerts = a.alerts.Value() - a.lastAlerts
	a.lastDropped, a.lastSkipped, a.lastObDropped, a.lastAlerts = counts.Dropped, skipped, obs.Dropped, a.alerts.Value()
	a.mu.Unlock()
	st.OutboxDepth = obs.Depth
	payload, err := json.Marshal(st)
	if err != nil {
		a.log.Error("encode stats", "err", err)
		return
	}
	if !a.client.Connected() {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, a.cfg.MQTT.ConnectTimeout)
	defer cancel()
	if err := a.client.Publish(pctx, a.topics.Stats(), payload, 0, false); err != nil {
		a.log.Debug("stats not published", "err", err)
	}
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
