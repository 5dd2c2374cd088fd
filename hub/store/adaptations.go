package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Adaptation is a stored stage of an adaptation a device made on its own
// from field labels (the adaptation topic, docs/mqtt.md).
type Adaptation struct {
	ID       string
	DeviceID string
	Time     time.Time // when the device reached the stage
	Received time.Time
	// Version names the adapted model; Stage is refused, switching,
	// committed, rolled_back or failed.
	Version, Stage string
	// Payload is the message's JSON as the device sent it.
	Payload []byte
}

// writeAdaptations stores the adaptation messages of a batch; a
// redelivered one (same id) is left as it is.
func writeAdaptations(ctx context.Context, tx *sql.Tx, as []Adaptation) error {
	for _, a := range as {
		if _, err := tx.ExecContext(ctx, `INSERT INTO adaptations (id, device_id, time_ms, received_ms, version, stage, payload)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
			a.ID, a.DeviceID, ms(a.Time), ms(a.Received), a.Version, a.Stage, string(a.Payload)); err != nil {
			return fmt.Errorf("store: insert adaptation %s: %w", a.ID, err)
		}
	}
	return nil
}

// Adaptations returns the newest limit adaptation messages of device,
// newest first.
func (s *Store) Adaptations(ctx context.Context, device string, limit int) ([]Adaptation, error) {
	return queryAll(ctx, s.db, "adaptations of "+device, scanAdaptation,
		`SELECT id, device_id, time_ms, received_ms, version, stage, payload FROM adaptations
		WHERE device_id = $1 ORDER BY time_ms DESC, id DESC LIMIT $2`, device, limit)
}

func scanAdaptation(r scanner) (Adaptation, error) {
	var a Adaptation
	var t, recv int64
	var payload string
	err := r.Scan(&a.ID, &a.DeviceID, &t, &recv, &a.Version, &a.Stage, &payload)
	a.Time, a.Received, a.Payload = fromMS(t), fromMS(recv), []byte(payload)
	return a, err
}
