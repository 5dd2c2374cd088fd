package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/rollout"
	"github.com/ood-agent/ood-agent/hub/store"
)

// Release file names inside models/<version>/.
const (
	ModelFile       = "model.tflite"
	CalibrationFile = "calibration.json"
)

// ErrBadRelease wraps the reason an upload is refused.
var ErrBadRelease = errors.New("release refused")

// ModelPath is where a release's file is kept; version and file must
// have been checked (Release checks the version, ServeModelFile the
// file name).
func (d *Dispatcher) ModelPath(version, file string) string {
	return filepath.Join(d.opts.DataDir, "models", version, file)
}

// artifactURL is where agents download a release file.
func (d *Dispatcher) artifactURL(version, file string) string {
	rel := "models/" + url.PathEscape(version) + "/" + file
	if d.opts.PublicURL == "" {
		return rel
	}
	return strings.TrimSuffix(d.opts.PublicURL, "/") + "/" + rel
}

// Release checks an uploaded model and calibration as agents will
// (rollout.CheckRelease), writes them under the data directory, and
// records the release with its signed manifest. Refusals wrap
// ErrBadRelease, and a taken version wraps store.ErrExists.
func (d *Dispatcher) Release(ctx context.Context, operator, version string, modelBytes, calibrationBytes []byte) (store.Model, error) {
	cal, err := rollout.CheckRelease(modelBytes, calibrationBytes)
	if err != nil {
		return store.Model{}, fmt.Errorf("%w: %w", ErrBadRelease, err)
	}
	man, err := rollout.NewManifest(version, modelBytes, calibrationBytes, d.artifactURL(version, ModelFile), d.artifactURL(version, CalibrationFile))
	if err != nil {
		return store.Model{}, fmt.Errorf("%w: %w", ErrBadRelease, err)
	}
	man.Name = cal.ModelName
	signed, err := rollout.SignManifest(d.opts.Signer, man)
	if err != nil {
		return store.Model{}, fmt.Errorf("%w: %w", ErrBadRelease, err)
	}
	if _, err := d.opts.Store.Model(ctx, version); err == nil {
		return store.Model{}, fmt.Errorf("model version %s: %w", version, store.ErrExists)
	}
	// Files first, into a fresh directory renamed into place: the row
	// never points at missing or half-written files.
	dir := filepath.Join(d.opts.DataDir, "models")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return store.Model{}, fmt.Errorf("dispatch: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".upload-")
	if err != nil {
		return store.Model{}, fmt.Errorf("dispatch: %w", err)
	}
	defer os.RemoveAll(tmp)
	for name, data := range map[string][]byte{ModelFile: modelBytes, CalibrationFile: calibrationBytes} {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o640); err != nil {
			return store.Model{}, fmt.Errorf("dispatch: write %s: %w", name, err)
		}
	}
	final := filepath.Join(dir, version)
	if err := os.Rename(tmp, final); err != nil {
		return store.Model{}, fmt.Errorf("dispatch: model version %s: %w", version, err)
	}
	m := store.Model{Version: version, Name: man.Name, ModelSHA256: man.Model.SHA256, ModelSize: man.Model.Size,
		CalibrationSHA256: man.Calibration.SHA256, CalibrationSize: man.Calibration.Size, Manifest: signed,
		Operator: operator, Created: time.Now().UTC()}
	if err := d.opts.Store.AddModel(ctx, m); err != nil {
		os.RemoveAll(final)
		return store.Model{}, err
	}
	return m, nil
}

// RolloutTarget is who installs a release: exactly one of Device, Group,
// All and Percent (0 < p ≤ 100).
type RolloutTarget struct {
	Device  string  `json:"device,omitempty"`
	Group   string  `json:"group,omitempty"`
	All     bool    `json:"all,omitempty"`
	Percent float64 `json:"percent,omitempty"`
}

// Rollout sends release version to target. A percentage is turned into
// devices here — PickPercent over the devices the hub has heard from,
// seeded by the version — each sent its own device-targeted command, so
// the agents need no idea of percentages.
func (d *Dispatcher) Rollout(ctx context.Context, operator, version string, target RolloutTarget) (store.Rollout, error) {
	set := 0
	for _, on := range []bool{target.Device != "", target.Group != "", target.All, target.Percent != 0} {
		if on {
			set++
		}
	}
	if set != 1 {
		return store.Rollout{}, fmt.Errorf("%w: set exactly one of device, group, all and percent", ErrBadRelease)
	}
	if target.Percent != 0 && !(target.Percent > 0 && target.Percent <= 100) {
		return store.Rollout{}, fmt.Errorf("%w: percent must be in (0, 100], got %v", ErrBadRelease, target.Percent)
	}
	m, err := d.opts.Store.Model(ctx, version)
	if err != nil {
		return store.Rollout{}, err
	}
	r := store.Rollout{ID: newID("r-"), ModelVersion: version, Operator: operator, Created: time.Now().UTC()}
	var targets []control.Target
	switch {
	case target.Device != "":
		t, err := control.ParseTarget("device/" + target.Device)
		if err != nil {
			return store.Rollout{}, fmt.Errorf("%w: %w", ErrBadRelease, err)
		}
		targets, r.Target, r.Devices = []control.Target{t}, t.String(), []string{target.Device}
	case target.Group != "":
		t, err := control.ParseTarget("group/" + target.Group)
		if err != nil {
			return store.Rollout{}, fmt.Errorf("%w: %w", ErrBadRelease, err)
		}
		targets, r.Target = []control.Target{t}, t.String()
	case target.All:
		targets, r.Target = []control.Target{control.All}, control.All.String()
	default:
		devices, err := d.opts.Store.Devices(ctx)
		if err != nil {
			return store.Rollout{}, err
		}
		ids := make([]string, 0, len(devices))
		for _, dev := range devices {
			if _, err := control.ParseTarget("device/" + dev.ID); err == nil {
				ids = append(ids, dev.ID)
			}
		}
		r.Target, r.Percent, r.Devices = "percent", target.Percent, PickPercent(ids, version, target.Percent)
		for _, id := range r.Devices {
			targets = append(targets, control.Device(id))
		}
		if len(targets) == 0 {
			return store.Rollout{}, fmt.Errorf("%w: the hub knows no devices to take %v%% of", ErrBadRelease, target.Percent)
		}
	}
	if err := d.opts.Store.AddRollout(ctx, r); err != nil {
		return store.Rollout{}, err
	}
	args, err := json.Marshal(control.RolloutArgs{Manifest: m.Manifest})
	if err != nil {
		return store.Rollout{}, fmt.Errorf("dispatch: rollout args: %w", err)
	}
	var errs []error
	for _, t := range targets {
		if _, err := d.Send(ctx, Request{Operator: operator, Target: t, Type: control.TypeRollout, Args: args, RolloutID: r.ID}); err != nil {
			errs = append(errs, err)
		}
	}
	return r, errors.Join(errs...)
}

// newID returns prefix and 16 random hex digits: the id of a rollout or
// of a feedback message.
func newID(prefix string) string {
	var rnd [8]byte
	rand.Read(rnd[:])
	return prefix + hex.EncodeToString(rnd[:])
}
