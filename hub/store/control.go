package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Command is an audit-log entry: a signed command the hub published.
type Command struct {
	ID string
	// Operator says who asked for it: the credential the request carried.
	Operator string
	Type     string
	// Target is "all", "device/<id>" or "group/<name>".
	Target string
	// Args is the command's args as JSON ("null" when it has none).
	Args   []byte
	Issued time.Time
	TTL    time.Duration
	// RolloutID links a rollout's commands to it; "" otherwise.
	RolloutID string
	// AlertID is the alert a feedback entry labels; "" otherwise.
	AlertID string
}

// CommandResult is what a device answered to a command. A device answers
// a command once, or once per stage for a rollout; copies of a command
// the broker delivered again are refused as replayed, and count in
// Duplicates rather than replacing the answer.
type CommandResult struct {
	CommandID  string
	DeviceID   string
	OK         bool
	Code       string
	Stage      string
	Message    string
	Time       time.Time // as the device wrote it
	Received   time.Time
	Duplicates int64
	// Payload is the result's JSON as the device sent it.
	Payload []byte
}

// replayedCode is control.CodeReplayed; the store does not import the
// agent's control package for one string.
const replayedCode = "replayed"

// AddCommand records a published command in the audit log.
func (s *Store) AddCommand(ctx context.Context, c Command) error {
	args := string(c.Args)
	if args == "" {
		args = "null"
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO commands (id, operator, type, target, args, issued_ms, ttl_s, rollout_id, alert_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.ID, c.Operator, c.Type, c.Target, args, ms(c.Issued), int64(c.TTL/time.Second), c.RolloutID, c.AlertID); err != nil {
		return fmt.Errorf("store: add command %s: %w", c.ID, err)
	}
	return nil
}

// writeResults stores results in tx: the first answer of a device to a
// command is kept; a later "replayed" answer is a duplicate delivery and
// only counted; a later answer of another kind (the next stage of a
// rollout) replaces it if it is not older.
func writeResults(ctx context.Context, tx *sql.Tx, results []CommandResult) error {
	for _, r := range results {
		if r.Code == replayedCode {
			res, err := tx.ExecContext(ctx, `UPDATE command_results SET duplicates = duplicates + 1 WHERE command_id = $1 AND device_id = $2`,
				r.CommandID, r.DeviceID)
			if err != nil {
				return fmt.Errorf("store: count duplicate of %s on %s: %w", r.CommandID, r.DeviceID, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				continue
			}
			// A replay refusal with no earlier answer: the first copy's
			// result was lost, so this one is all the hub knows.
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO command_results (command_id, device_id, ok, code, stage, message, time_ms, received_ms, payload)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (command_id, device_id) DO UPDATE SET ok = excluded.ok, code = excluded.code, stage = excluded.stage,
			message = excluded.message, time_ms = excluded.time_ms, received_ms = excluded.received_ms, payload = excluded.payload
			WHERE command_results.time_ms <= excluded.time_ms`,
			r.CommandID, r.DeviceID, boolInt(r.OK), r.Code, r.Stage, r.Message, ms(r.Time), ms(r.Received), string(r.Payload)); err != nil {
			return fmt.Errorf("store: insert result of %s on %s: %w", r.CommandID, r.DeviceID, err)
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CommandFilter selects audit-log entries.
type CommandFilter struct {
	// Device, if set, keeps the commands that reached it: sent to it,
	// or answered by it (a group or fleet command).
	Device string
	// RolloutID, if set, keeps the commands of one rollout.
	RolloutID string
	// AlertID, if set, keeps the feedback that labels one alert.
	AlertID string
	// Limit caps the entries, newest first; 0 means 100.
	Limit int
}

// CommandWithResults is an audit-log entry and the devices' answers.
type CommandWithResults struct {
	Command
	Results []CommandResult
}

// Commands returns audit-log entries, newest first, each with its
// results.
func (s *Store) Commands(ctx context.Context, f CommandFilter) ([]CommandWithResults, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	cmds, err := queryAll(ctx, s.db, "commands", scanCommand, `SELECT id, operator, type, target, args, issued_ms, ttl_s, rollout_id, alert_id FROM commands
		WHERE ($1 = '' OR target = 'device/' || $1 OR id IN (SELECT command_id FROM command_results WHERE device_id = $1))
		AND ($2 = '' OR rollout_id = $2) AND ($3 = '' OR alert_id = $3)
		ORDER BY issued_ms DESC, id LIMIT $4`, f.Device, f.RolloutID, f.AlertID, f.Limit)
	if err != nil || len(cmds) == 0 {
		return nil, err
	}
	out := make([]CommandWithResults, len(cmds))
	index := map[string]int{}
	for i, c := range cmds {
		out[i].Command = c
		index[c.ID] = i
	}
	// One query for the results of the page: the oldest issue time of
	// the page bounds it, and the results of newer commands the filter
	// left out are passed over, not kept.
	keep := func(r CommandResult) {
		if i, found := index[r.CommandID]; found {
			out[i].Results = append(out[i].Results, r)
		}
	}
	err = queryEach(ctx, s.db, "command results", scanCommandResult, keep, `SELECT r.command_id, r.device_id, r.ok, r.code, r.stage, r.message, r.time_ms, r.received_ms, r.duplicates, r.payload
		FROM command_results r JOIN commands c ON c.id = r.command_id
		WHERE c.issued_ms >= $1 ORDER BY r.device_id`, ms(out[len(out)-1].Issued))
	if err != nil {
		return nil, err
	}
	return out, nil
}

func scanCommand(r scanner) (Command, error) {
	var c Command
	var args string
	var issued, ttl int64
	err := r.Scan(&c.ID, &c.Operator, &c.Type, &c.Target, &args, &issued, &ttl, &c.RolloutID, &c.AlertID)
	c.Args, c.Issued, c.TTL = []byte(args), fromMS(issued), time.Duration(ttl)*time.Second
	return c, err
}

func scanCommandResult(r scanner) (CommandResult, error) {
	var cr CommandResult
	var ok int
	var t, rec int64
	var payload string
	err := r.Scan(&cr.CommandID, &cr.DeviceID, &ok, &cr.Code, &cr.Stage, &cr.Message, &t, &rec, &cr.Duplicates, &payload)
	cr.OK, cr.Time, cr.Received, cr.Payload = ok != 0, fromMS(t), fromMS(rec), []byte(payload)
	return cr, err
}

// AlertFeedback returns, for those of the alerts operators have labeled
// from the hub, the newest label and the device's answer to it.
func (s *Store) AlertFeedback(ctx context.Context, alertIDs []string) (map[string]CommandWithResults, error) {
	out := map[string]CommandWithResults{}
	if len(alertIDs) == 0 {
		return out, nil
	}
	in, args := placeholders(alertIDs)
	latest := map[string]string{} // command id → alert id
	err := queryEach(ctx, s.db, "alert feedback", scanCommand, func(c Command) {
		if prev, ok := out[c.AlertID]; ok {
			delete(latest, prev.ID)
		}
		out[c.AlertID] = CommandWithResults{Command: c}
		latest[c.ID] = c.AlertID
	}, `SELECT id, operator, type, target, args, issued_ms, ttl_s, rollout_id, alert_id FROM commands
		WHERE alert_id IN (`+in+`) ORDER BY issued_ms, id`, args...)
	if err != nil || len(latest) == 0 {
		return out, err
	}
	ids := make([]string, 0, len(latest))
	for id := range latest {
		ids = append(ids, id)
	}
	in, args = placeholders(ids)
	err = queryEach(ctx, s.db, "alert feedback results", scanCommandResult, func(r CommandResult) {
		a := latest[r.CommandID]
		c := out[a]
		c.Results = append(c.Results, r)
		out[a] = c
	}, `SELECT command_id, device_id, ok, code, stage, message, time_ms, received_ms, duplicates, payload
		FROM command_results WHERE command_id IN (`+in+`)`, args...)
	return out, err
}

// placeholders returns "$1, $2, …" for the values and the values as
// query arguments.
func placeholders(values []string) (string, []any) {
	marks := make([]string, len(values))
	args := make([]any, len(values))
	for i, v := range values {
		marks[i] = "$" + strconv.Itoa(i+1)
		args[i] = v
	}
	return strings.Join(marks, ", "), args
}
