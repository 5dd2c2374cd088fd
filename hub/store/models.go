package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Model is an uploaded model release. Its files live on disk; the row
// keeps what describes them and the signed manifest.
type Model struct {
	Version           string
	Name              string
	ModelSHA256       string
	ModelSize         int64
	CalibrationSHA256 string
	CalibrationSize   int64
	// Manifest is the signed manifest envelope sent in rollout commands.
	Manifest []byte
	Operator string
	Created  time.Time
}

// ErrExists is returned when adding a row whose key is taken.
var ErrExists = errors.New("store: already exists")

// AddModel records a release; a version already stored is ErrExists
// (a version names one set of files for good: agents keep it in a
// directory of that name).
func (s *Store) AddModel(ctx context.Context, m Model) error {
	r, err := s.db.ExecContext(ctx, `INSERT INTO models (version, name, model_sha256, model_size, calibration_sha256, calibration_size, manifest, operator, created_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (version) DO NOTHING`,
		m.Version, m.Name, m.ModelSHA256, m.ModelSize, m.CalibrationSHA256, m.CalibrationSize, string(m.Manifest), m.Operator, ms(m.Created))
	if err != nil {
		return fmt.Errorf("store: add model %s: %w", m.Version, err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return fmt.Errorf("model version %s: %w", m.Version, ErrExists)
	}
	return nil
}

const modelColumns = `version, name, model_sha256, model_size, calibration_sha256, calibration_size, manifest, operator, created_ms`

func scanModel(row scanner) (Model, error) {
	var m Model
	var manifest string
	var created int64
	err := row.Scan(&m.Version, &m.Name, &m.ModelSHA256, &m.ModelSize, &m.CalibrationSHA256, &m.CalibrationSize, &manifest, &m.Operator, &created)
	m.Manifest, m.Created = []byte(manifest), fromMS(created)
	return m, err
}

// Model returns the release of version.
func (s *Store) Model(ctx context.Context, version string) (Model, error) {
	return queryOne(ctx, s.db, "model "+version, scanModel, `SELECT `+modelColumns+` FROM models WHERE version = $1`, version)
}

// Models returns every release, newest first.
func (s *Store) Models(ctx context.Context) ([]Model, error) {
	return queryAll(ctx, s.db, "models", scanModel, `SELECT `+modelColumns+` FROM models ORDER BY created_ms DESC, version`)
}

// Rollout is the installation of a release on a set of devices.
type Rollout struct {
	ID           string
	ModelVersion string
	// Target is "device/<id>", "group/<name>", "all" or "percent".
	Target string
	// Percent is the share of the fleet for a percent target, else 0.
	Percent float64
	// Devices are the devices sent a command; empty for a group or
	// fleet target, whose members the hub does not know in advance.
	Devices  []string
	Operator string
	Created  time.Time
}

// AddRollout records a rollout.
func (s *Store) AddRollout(ctx context.Context, r Rollout) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO rollouts (id, model_version, target, percent, devices, operator, created_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.ID, r.ModelVersion, r.Target, r.Percent, strings.Join(r.Devices, ","), r.Operator, ms(r.Created)); err != nil {
		return fmt.Errorf("store: add rollout %s: %w", r.ID, err)
	}
	return nil
}

const rolloutColumns = `id, model_version, target, percent, devices, operator, created_ms`

func scanRollout(row scanner) (Rollout, error) {
	var r Rollout
	var devices string
	var created int64
	err := row.Scan(&r.ID, &r.ModelVersion, &r.Target, &r.Percent, &devices, &r.Operator, &created)
	if devices != "" {
		r.Devices = strings.Split(devices, ",")
	}
	r.Created = fromMS(created)
	return r, err
}

// Rollout returns one rollout.
func (s *Store) Rollout(ctx context.Context, id string) (Rollout, error) {
	return queryOne(ctx, s.db, "rollout "+id, scanRollout, `SELECT `+rolloutColumns+` FROM rollouts WHERE id = $1`, id)
}

// Rollouts returns the latest rollouts, newest first.
func (s *Store) Rollouts(ctx context.Context, limit int) ([]Rollout, error) {
	return queryAll(ctx, s.db, "rollouts", scanRollout, `SELECT `+rolloutColumns+` FROM rollouts ORDER BY created_ms DESC, id LIMIT $1`, limit)
}
