package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// ErrNotFound is returned by the lookups of one row by id when there is
// none.
var ErrNotFound = errors.New("store: not found")

// dialect names the SQL engine behind a Store. The queries are the same
// on both; only a few DDL types and the migration lock differ.
type dialect int

const (
	sqlite dialect = iota
	postgres
)

// Store is an open hub database. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect dialect
}

// Open connects to the database named by dsn and brings its schema up to
// date. dsn is sqlite:///absolute/path.db, sqlite://relative/path.db, or a
// PostgreSQL URL (postgres://user@host/db?sslmode=…, postgresql://…).
// A SQLite file and its directory are created if missing.
func Open(ctx context.Context, dsn string) (*Store, error) {
	s, err := open(dsn)
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

func open(dsn string) (*Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		path := strings.TrimPrefix(dsn, "sqlite://")
		if path == "" {
			return nil, errors.New("store: sqlite:// needs a file path, e.g. sqlite:///var/lib/ood-agent/hub.db")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("store: create database directory: %w", err)
		}
		// WAL lets the web pages read while ingest writes; immediate
		// transactions take the write lock up front, so that busy_timeout
		// applies instead of a lock-upgrade failure.
		q := url.Values{}
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "busy_timeout(10000)")
		q.Set("_txlock", "immediate")
		db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
		}
		return &Store{db: db, dialect: sqlite}, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			// The DSN may hold a password: do not echo it.
			return nil, errors.New("store: open postgres: the URL does not parse")
		}
		db.SetMaxOpenConns(8)
		return &Store{db: db, dialect: postgres}, nil
	}
	return nil, errors.New("store: database must be sqlite://PATH or postgres://… (got another scheme)")
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// migrations are applied in order; each runs once, recorded in
// schema_migrations. {{blob}} is the engine's binary column type. Never
// edit an applied migration: append a new one.
var migrations = []string{
	`CREATE TABLE devices (
		id TEXT PRIMARY KEY,
		state TEXT NOT NULL DEFAULT '',
		status_ms BIGINT NOT NULL DEFAULT 0,
		version TEXT NOT NULL DEFAULT '',
		model_name TEXT NOT NULL DEFAULT '',
		model_sha256 TEXT NOT NULL DEFAULT '',
		last_seen_ms BIGINT NOT NULL DEFAULT 0,
		stats_ms BIGINT NOT NULL DEFAULT 0,
		fps DOUBLE PRECISION NOT NULL DEFAULT 0,
		ood_rate DOUBLE PRECISION NOT NULL DEFAULT 0,
		ood_rate_1h DOUBLE PRECISION NOT NULL DEFAULT 0,
		energy_p05 DOUBLE PRECISION, energy_p50 DOUBLE PRECISION, energy_p95 DOUBLE PRECISION,
		cal_p05 DOUBLE PRECISION, cal_p50 DOUBLE PRECISION, cal_p95 DOUBLE PRECISION,
		cal_threshold DOUBLE PRECISION NOT NULL DEFAULT 0
	);
	CREATE TABLE alerts (
		id TEXT PRIMARY KEY,
		device_id TEXT NOT NULL,
		type TEXT NOT NULL,
		event_id TEXT NOT NULL,
		time_ms BIGINT NOT NULL,
		received_ms BIGINT NOT NULL,
		origin TEXT NOT NULL,
		frame_seq BIGINT NOT NULL,
		label INTEGER NOT NULL,
		label_name TEXT NOT NULL,
		confidence DOUBLE PRECISION NOT NULL,
		energy DOUBLE PRECISION NOT NULL,
		score DOUBLE PRECISION NOT NULL,
		threshold DOUBLE PRECISION NOT NULL,
		method TEXT NOT NULL,
		model_name TEXT NOT NULL,
		model_sha256 TEXT NOT NULL,
		evidence_id TEXT NOT NULL,
		payload TEXT NOT NULL
	);
	CREATE INDEX alerts_device_time ON alerts (device_id, time_ms);
	CREATE INDEX alerts_time ON alerts (time_ms);
	CREATE TABLE stats (
		id TEXT PRIMARY KEY,
		device_id TEXT NOT NULL,
		time_ms BIGINT NOT NULL,
		interval_s DOUBLE PRECISION NOT NULL,
		frames BIGINT NOT NULL,
		ood_frames BIGINT NOT NULL,
		fps DOUBLE PRECISION NOT NULL,
		inference_p50 DOUBLE PRECISION,
		energy_p05 DOUBLE PRECISION, energy_p50 DOUBLE PRECISION, energy_p95 DOUBLE PRECISION,
		cal_p05 DOUBLE PRECISION, cal_p50 DOUBLE PRECISION, cal_p95 DOUBLE PRECISION,
		cal_threshold DOUBLE PRECISION NOT NULL,
		payload TEXT NOT NULL
	);
	CREATE INDEX stats_device_time ON stats (device_id, time_ms);
	CREATE INDEX stats_time ON stats (time_ms);
	CREATE TABLE evidence (
		id TEXT PRIMARY KEY,
		device_id TEXT NOT NULL,
		received_ms BIGINT NOT NULL,
		content_type TEXT NOT NULL,
		data {{blob}} NOT NULL
	);
	CREATE INDEX evidence_received ON evidence (received_ms);
	-- Alerts per device and clock hour, kept up to date by Write, so that
	-- the fleet page's sparklines read 24 rows per device, not every alert.
	CREATE TABLE alert_hours (
		device_id TEXT NOT NULL,
		hour BIGINT NOT NULL,
		alerts BIGINT NOT NULL,
		PRIMARY KEY (device_id, hour)
	);
	CREATE INDEX alert_hours_hour ON alert_hours (hour, device_id, alerts);`,
	// Fleet control: the audit log of signed commands and what devices
	// answered (docs/control.md, docs/hub.md).
	`CREATE TABLE commands (
		id TEXT PRIMARY KEY,
		operator TEXT NOT NULL,
		type TEXT NOT NULL,
		target TEXT NOT NULL,
		args TEXT NOT NULL,
		issued_ms BIGINT NOT NULL,
		ttl_s BIGINT NOT NULL,
		rollout_id TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX commands_issued ON commands (issued_ms);
	CREATE INDEX commands_rollout ON commands (rollout_id);
	CREATE TABLE command_results (
		command_id TEXT NOT NULL,
		device_id TEXT NOT NULL,
		ok INTEGER NOT NULL,
		code TEXT NOT NULL,
		stage TEXT NOT NULL,
		message TEXT NOT NULL,
		time_ms BIGINT NOT NULL,
		received_ms BIGINT NOT NULL,
		duplicates BIGINT NOT NULL DEFAULT 0,
		payload TEXT NOT NULL,
		PRIMARY KEY (command_id, device_id)
	);
	CREATE INDEX command_results_device ON command_results (device_id, received_ms)`,
	// Model releases (files on disk under the hub's data directory) and
	// the rollouts that install them; a rollout's per-device progress is
	// the results of its commands.
	`CREATE TABLE models (
		version TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		model_sha256 TEXT NOT NULL,
		model_size BIGINT NOT NULL,
		calibration_sha256 TEXT NOT NULL,
		calibration_size BIGINT NOT NULL,
		manifest TEXT NOT NULL,
		operator TEXT NOT NULL,
		created_ms BIGINT NOT NULL
	);
	CREATE TABLE rollouts (
		id TEXT PRIMARY KEY,
		model_version TEXT NOT NULL,
		target TEXT NOT NULL,
		percent DOUBLE PRECISION NOT NULL,
		devices TEXT NOT NULL,
		operator TEXT NOT NULL,
		created_ms BIGINT NOT NULL
	);
	CREATE INDEX rollouts_created ON rollouts (created_ms)`,
	// Operators' labels of alerts (false alarm, confirmed) go to the
	// devices like commands and are audited with them; alert_id finds an
	// alert's labels.
	`ALTER TABLE commands ADD COLUMN alert_id TEXT NOT NULL DEFAULT '';
	CREATE INDEX commands_alert ON commands (alert_id)`,
	// The stages of the adaptations devices make on their own from those
	// labels.
	`CREATE TABLE adaptations (
		id TEXT PRIMARY KEY,
		device_id TEXT NOT NULL,
		time_ms BIGINT NOT NULL,
		received_ms BIGINT NOT NULL,
		version TEXT NOT NULL,
		stage TEXT NOT NULL,
		payload TEXT NOT NULL
	);
	CREATE INDEX adaptations_device_time ON adaptations (device_id, time_ms)`,
}

// migrate applies the migrations the database has not seen yet. On
// PostgreSQL an advisory lock keeps replicas that start together from
// racing; on SQLite the immediate transaction does.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: connect: %w", err)
	}
	defer conn.Close()
	if s.dialect == postgres {
		// An arbitrary constant: "ood-hub" in ASCII.
		const lockKey int64 = 0x6f6f642d687562
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	blob := "BLOB"
	if s.dialect == postgres {
		blob = "BYTEA"
	}
	for i, m := range migrations {
		version := i + 1
		err := func() error {
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for stmt := range strings.SplitSeq(strings.ReplaceAll(m, "{{blob}}", blob), ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)`, version, time.Now().UnixMilli()); err != nil {
				return err
			}
			return tx.Commit()
		}()
		if err != nil {
			return fmt.Errorf("store: migration %d: %w", version, err)
		}
	}
	return nil
}

// SchemaVersion returns the number of the last applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return int(v.Int64), nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
