package rollout

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/internal/fsutil"
	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
)

// Names inside the manager's directory.
const (
	currentLink  = "current"  // -> v/<name>, the committed or watched model
	previousLink = "previous" // -> v/<name>, the one before it
	versionsDir  = "v"
	partialDir   = "partial"

	ModelFile       = "model.tflite"
	CalibrationFile = "calibration.json"
	ManifestFile    = "manifest.json"
)

// Options configures a Manager.
type Options struct {
	// Dir holds everything: rollout.json, the links, v/ and partial/.
	// Typically <state dir>/models.
	Dir string
	// Keys verify rollout manifests; without keys Prepare refuses every
	// manifest and only PrepareLocal installs models.
	Keys control.KeyRing
	// Config gives the hub URL, TLS and the self-test and watch limits;
	// zero fields take DefaultConfig's values.
	Config Config
	// Client downloads; nil builds one from Config.CAFile.
	Client *http.Client
	// AgentVersion is compared with the manifest's min_agent_version.
	AgentVersion string
	// Detect configures the candidate's detector (threads,
	// preprocessing); its Calibration is replaced by the manifest's.
	Detect detect.Options
	// SelfTestFrames returns the in-distribution frames for the self-test,
	// such as the last ones the runner kept. Nil or no frames skips the
	// acceptance check (the candidate must still load and run).
	SelfTestFrames func() []image.Image
	// Progress, if set, is told about each step, for reporting to the hub.
	Progress func(Progress)
	Log      *slog.Logger

	// crashAt, in tests, is called after each named step of a swap.
	crashAt func(step string)
}

// Progress is a step of a rollout, reported through Options.Progress.
type Progress struct {
	Phase   Phase
	Version string
	Message string
	// Done and Total are downloaded bytes, during PhaseDownloading.
	Done, Total int64
}

// Manager runs rollouts in one directory. Its methods are safe for
// concurrent use; one rollout runs at a time.
type Manager struct {
	opts Options
	cfg  Config
	log  *slog.Logger
	dl   downloader

	progress atomic.Pointer[func(Progress)]

	mu      sync.Mutex
	state   State
	busy    bool
	watched int
	oodSeen int
}

// Open prepares dir and recovers from a crash: a rollout that had not
// reached PhaseWatching is marked failed (partial downloads are kept for
// a retry), and one whose new model was already live but not committed is
// rolled back, so the agent starts on the last committed model.
func Open(opts Options) (*Manager, error) {
	if opts.Dir == "" {
		return nil, errors.New("rollout: no directory")
	}
	cfg := opts.Config
	def := DefaultConfig()
	if cfg.SelfTestTolerance == 0 {
		cfg.SelfTestTolerance = def.SelfTestTolerance
	}
	if cfg.WatchFrames == 0 {
		cfg.WatchFrames = def.WatchFrames
	}
	if cfg.MaxOODRate == 0 {
		cfg.MaxOODRate = def.MaxOODRate
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	for _, d := range []string{opts.Dir, filepath.Join(opts.Dir, versionsDir), filepath.Join(opts.Dir, partialDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("rollout: %w", err)
		}
	}
	m := &Manager{opts: opts, cfg: cfg, log: opts.Log}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.log = m.log.With("component", "rollout")
	m.SetProgress(opts.Progress)
	client := opts.Client
	if client == nil {
		var err error
		if client, err = httpClient(cfg.CAFile); err != nil {
			return nil, err
		}
	}
	// A redirect must not lead to plain HTTP when a direct URL may not.
	guarded := *client
	guarded.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" && !cfg.AllowHTTP {
			return fmt.Errorf("redirect to %s is plain http; set control.rollout.allow_http to permit it", req.URL.Redacted())
		}
		if len(via) >= 5 {
			return errors.New("more than 5 redirects")
		}
		return nil
	}
	m.dl = downloader{client: &guarded, allowHTTP: cfg.AllowHTTP, dir: filepath.Join(opts.Dir, partialDir)}
	if cfg.HubURL != "" {
		m.dl.base, _ = url.Parse(cfg.HubURL)
	}
	var err error
	if m.state, err = loadState(m.path(stateFile)); err != nil {
		return nil, err
	}
	if err := m.recover(); err != nil {
		return nil, err
	}
	return m, nil
}

func httpClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("rollout: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("rollout: ca_file %s: no PEM certificates", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	// No overall timeout: a large model on a slow link takes long; a
	// stalled connection is cut by the response header timeout and the
	// caller's context.
	tr.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: tr}, nil
}

func (m *Manager) path(elem ...string) string {
	return filepath.Join(append([]string{m.opts.Dir}, elem...)...)
}

func (m *Manager) recover() error {
	s := m.state
	switch s.Phase {
	case PhaseDownloading, PhaseStaged:
		m.log.Warn("rollout interrupted by a restart before the switch; the old model stays", "version", s.Version, "phase", s.Phase)
		s.Reason = fmt.Sprintf("agent restarted during %s; the old model stayed active", s.Phase)
		s.Phase = PhaseFailed
		m.state = s
		return saveState(m.path(stateFile), s)
	case PhaseSwapping, PhaseWatching:
		m.log.Warn("rollout interrupted by a restart before commit; rolling back", "version", s.Version, "phase", s.Phase)
		return m.rollbackLocked(fmt.Sprintf("agent restarted during %s, before the new model was committed", s.Phase))
	}
	return nil
}

// Installed is a model that a rollout put in place.
type Installed struct {
	Version         string
	Dir             string // absolute
	ModelPath       string
	CalibrationPath string
}

// Current returns the active rolled-out model, if any. The runner loads it
// at start instead of the configured model.
func (m *Manager) Current() (Installed, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	target, err := os.Readlink(m.path(currentLink))
	if err != nil {
		return Installed{}, false
	}
	dir := m.path(target)
	if _, err := os.Stat(filepath.Join(dir, ModelFile)); err != nil {
		return Installed{}, false
	}
	version := filepath.Base(target)
	if i := strings.LastIndexByte(version, '-'); i > 0 {
		version = version[:i]
	}
	return Installed{Version: version, Dir: dir, ModelPath: filepath.Join(dir, ModelFile), CalibrationPath: filepath.Join(dir, CalibrationFile)}, true
}

// State returns the rollout state.
func (m *Manager) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

func (m *Manager) report(p Progress) {
	m.log.Info("rollout", "phase", p.Phase, "version", p.Version, "message", p.Message)
	m.notify(p)
}

// notify passes p to the progress function, without logging.
func (m *Manager) notify(p Progress) {
	if f := m.progress.Load(); f != nil {
		(*f)(p)
	}
}

// SetProgress replaces Options.Progress, for a caller that can only
// make its progress function once the Manager exists.
func (m *Manager) SetProgress(f func(Progress)) {
	if f == nil {
		m.progress.Store(nil)
		return
	}
	m.progress.Store(&f)
}

// setState records s; the caller holds m.mu.
func (m *Manager) setStateLocked(s State) error {
	if err := saveState(m.path(stateFile), s); err != nil {
		return err
	}
	m.state = s
	return nil
}

func (m *Manager) setState(s State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.setStateLocked(s)
}

// Candidate is a staged, loaded and self-tested model, ready for
// Activate. Its Detector belongs to the caller once activated; if the
// caller drops the candidate instead it must call Close.
type Candidate struct {
	Manifest    Manifest
	Installed   Installed
	File        *model.File
	Calibration *ood.Calibration
	Detector    *detect.Detector
	SelfTest    SelfTestReport
	dir         string // relative to the manager's directory
	signed      []byte
}

// Close releases the candidate's detector.
func (c *Candidate) Close() { c.Detector.Close() }

// ErrBusy is returned by Prepare while another rollout is running.
var ErrBusy = errors.New("rollout: another rollout is in progress")

// Prepare verifies a signed manifest, downloads and checks its files,
// stages them, loads them in a new detector and self-tests it. The active
// model is not touched; a failure leaves the state PhaseFailed with the
// reason. Prepare may take long: run it outside the frame loop.
func (m *Manager) Prepare(ctx context.Context, signed []byte) (*Candidate, error) {
	man, err := ParseManifest(m.opts.Keys, signed)
	if err != nil {
		return nil, err // nothing recorded: the manifest is not trusted
	}
	return m.exclusive(man, signed, func() (*Candidate, error) { return m.prepare(ctx, man, signed) })
}

// PrepareLocal stages a model made on this device — by the agent's
// scheduled adaptation — and loads and self-tests it like a downloaded
// one, for Activate and the same watch and rollback. version names it
// (as a manifest's version); model and calibration are the files'
// contents, the calibration bound to the model.
func (m *Manager) PrepareLocal(version string, modelData, calibration []byte) (*Candidate, error) {
	man := Manifest{V: 1, Version: version, Name: "adapted on this device", Created: time.Now().UTC(),
		Model: localArtifact(modelData), Calibration: localArtifact(calibration)}
	if err := man.Validate(); err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	// The manifest file records what was installed; unsigned, it is
	// never trusted as a command.
	record, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	return m.exclusive(man, record, func() (*Candidate, error) {
		var parts [2]string
		for i, data := range [][]byte{modelData, calibration} {
			parts[i] = m.path(partialDir, fmt.Sprintf("local-%s-%d", version, i))
			if err := fsutil.WriteFile(parts[i], data, 0o600); err != nil {
				return nil, fmt.Errorf("rollout: %w", err)
			}
		}
		return m.install(man, parts[0], parts[1], record)
	})
}

// exclusive runs prepare, the preparation of man, as the one rollout in
// progress — ErrBusy while another is prepared or watched — and records
// its failure in the state.
func (m *Manager) exclusive(man Manifest, record []byte, prepare func() (*Candidate, error)) (*Candidate, error) {
	m.mu.Lock()
	if m.busy || m.state.Phase == PhaseSwapping || m.state.Phase == PhaseWatching {
		m.mu.Unlock()
		return nil, ErrBusy
	}
	m.busy = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.busy = false
		m.mu.Unlock()
	}()
	c, err := prepare()
	if err != nil {
		m.setState(State{Phase: PhaseFailed, Version: man.Version, Manifest: record, Reason: err.Error()})
		m.report(Progress{Phase: PhaseFailed, Version: man.Version, Message: err.Error()})
		return nil, err
	}
	return c, nil
}

// localArtifact describes a file made on the device.
func localArtifact(data []byte) Artifact {
	sum := sha256.Sum256(data)
	return Artifact{URL: "local", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

func (m *Manager) prepare(ctx context.Context, man Manifest, signed []byte) (*Candidate, error) {
	if agentTooOld(m.opts.AgentVersion, man.MinAgentVersion) {
		return nil, fmt.Errorf("rollout %s needs agent %s or newer, this is %s", man.Version, man.MinAgentVersion, m.opts.AgentVersion)
	}
	if man.Calibration.SHA256 == man.Model.SHA256 {
		return nil, fmt.Errorf("rollout %s: model and calibration have the same hash", man.Version)
	}
	name := man.Version + "-" + man.Model.SHA256[:12]
	rel := filepath.Join(versionsDir, name)
	if cur, err := os.Readlink(m.path(currentLink)); err == nil && cur == rel {
		return nil, fmt.Errorf("rollout %s is already the active model", man.Version)
	}
	if err := m.setState(State{Phase: PhaseDownloading, Version: man.Version, Dir: rel, Manifest: signed}); err != nil {
		return nil, err
	}
	m.report(Progress{Phase: PhaseDownloading, Version: man.Version, Total: man.Model.Size + man.Calibration.Size})
	dl := m.dl
	var base int64
	dl.progress = func(done, total int64) {
		m.notify(Progress{Phase: PhaseDownloading, Version: man.Version, Done: base + done, Total: man.Model.Size + man.Calibration.Size})
	}
	modelPart, err := dl.fetch(ctx, man.Model)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	base = man.Model.Size
	calPart, err := dl.fetch(ctx, man.Calibration)
	if err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	return m.install(man, modelPart, calPart, signed)
}

// install stages verified files, loads them in a new detector and
// self-tests it.
func (m *Manager) install(man Manifest, modelPart, calPart string, signed []byte) (*Candidate, error) {
	rel := filepath.Join(versionsDir, man.Version+"-"+man.Model.SHA256[:12])
	if err := m.stage(rel, modelPart, calPart, signed); err != nil {
		return nil, err
	}
	if err := m.setState(State{Phase: PhaseStaged, Version: man.Version, Dir: rel, Manifest: signed}); err != nil {
		return nil, err
	}
	m.report(Progress{Phase: PhaseStaged, Version: man.Version, Message: "files verified and staged in " + rel})
	c, err := m.load(man, rel, signed)
	if err != nil {
		return nil, err
	}
	frames := []image.Image(nil)
	if m.opts.SelfTestFrames != nil {
		frames = m.opts.SelfTestFrames()
	}
	c.SelfTest = selfTest(c.Detector, c.Calibration, frames, m.cfg.SelfTestTolerance)
	if !c.SelfTest.Passed {
		c.Close()
		return nil, fmt.Errorf("self-test failed: %s", c.SelfTest)
	}
	m.report(Progress{Phase: PhaseStaged, Version: man.Version, Message: "self-test passed: " + c.SelfTest.String()})
	return c, nil
}

// stage moves the verified files into v/<name>, replacing a leftover
// from an earlier failed attempt, through a temporary directory renamed
// into place, so v/<name> is complete whenever it exists.
func (m *Manager) stage(rel, modelPart, calPart string, signed []byte) error {
	final := m.path(rel)
	tmp := m.path(versionsDir, ".staging-"+filepath.Base(rel))
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	if err := os.RemoveAll(final); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	if err := os.Rename(modelPart, filepath.Join(tmp, ModelFile)); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	if err := os.Rename(calPart, filepath.Join(tmp, CalibrationFile)); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	// WriteFile syncs tmp after the manifest is in, which also makes
	// the two renames into tmp durable.
	if err := fsutil.WriteFile(filepath.Join(tmp, ManifestFile), signed, 0o600); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	if err := fsutil.SyncDir(m.path(partialDir)); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	return fsutil.SyncDir(m.path(versionsDir))
}

// load opens the staged files in a second detector. A panic while
// decoding a hostile or broken model fails the rollout instead of the
// agent.
func (m *Manager) load(man Manifest, rel string, signed []byte) (c *Candidate, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("load: model crashed the interpreter: %v", p)
		}
	}()
	dir := m.path(rel)
	f, err := model.Open(filepath.Join(dir, ModelFile))
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	cal, err := ood.Load(filepath.Join(dir, CalibrationFile))
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := cal.CheckModel(man.Model.SHA256); err != nil {
		return nil, fmt.Errorf("load: calibration is not bound to the manifest's model: %w", err)
	}
	opts := m.opts.Detect
	opts.Calibration = cal
	opts.Temperature = 0
	det, err := detect.New(f, opts)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	return &Candidate{
		Manifest: man, File: f, Calibration: cal, Detector: det, dir: rel, signed: signed,
		Installed: Installed{Version: man.Version, Dir: dir, ModelPath: filepath.Join(dir, ModelFile), CalibrationPath: filepath.Join(dir, CalibrationFile)},
	}, nil
}
