package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/feedback"
	"github.com/ood-agent/ood-agent/hub/store"
)

// Publisher sends a command envelope at QoS 1, not retained;
// *ingest.Ingester satisfies it.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// Options configure a Dispatcher.
type Options struct {
	Signer    *control.Signer
	Prefix    string
	Publisher Publisher
	// Store keeps the audit log, releases and rollouts.
	Store *store.Store
	// DataDir holds the release files, under models/<version>/.
	DataDir string
	// PublicURL, if set, is the base of the artifact URLs in manifests;
	// else they are relative (models/<version>/…), resolved by agents
	// against their control.rollout.hub_url.
	PublicURL string
}

// Dispatcher signs, audits and publishes commands.
type Dispatcher struct {
	opts Options
}

// New returns a Dispatcher.
func New(opts Options) (*Dispatcher, error) {
	switch {
	case opts.Signer == nil:
		return nil, errors.New("dispatch: no signing key")
	case opts.Publisher == nil:
		return nil, errors.New("dispatch: no publisher")
	case opts.Store == nil:
		return nil, errors.New("dispatch: no store")
	case opts.DataDir == "":
		return nil, errors.New("dispatch: no data directory for model releases")
	}
	return &Dispatcher{opts: opts}, nil
}

// PublicKey is the key agents must list in control.trusted_keys.
func (d *Dispatcher) PublicKey() string { return d.opts.Signer.PublicKey() }

// Request is one command to send.
type Request struct {
	// Operator names who asked, for the audit log.
	Operator string
	Target   control.Target
	Type     control.Type
	// Args are the command's arguments as JSON; empty for none.
	Args json.RawMessage
	// TTL defaults to control.DefaultTTL.
	TTL time.Duration
	// RolloutID links the command to a rollout.
	RolloutID string
}

// ErrNotPublished wraps a publish failure of a command that was signed
// and audited: the audit log has it, the devices do not.
var ErrNotPublished = errors.New("dispatch: command signed and audited but not published")

// Send signs r, records it in the audit log, then publishes it. The
// audit entry comes first so that no command can reach a device without
// one; a command whose publish fails stays in the log without results.
// Invalid arguments are refused before anything is recorded, with the
// error the agents would give (control.CodeOf tells invalid_args).
func (d *Dispatcher) Send(ctx context.Context, r Request) (control.Command, error) {
	var args any
	if trimmed := bytes.TrimSpace(r.Args); len(trimmed) > 0 {
		args = json.RawMessage(trimmed)
	}
	cmd, env, err := d.opts.Signer.SignCommand(control.Draft{Target: r.Target, Type: r.Type, Args: args, TTL: r.TTL})
	if err != nil {
		return control.Command{}, err
	}
	audited := store.Command{ID: cmd.ID, Operator: r.Operator, Type: string(cmd.Type), Target: cmd.Target.String(),
		Issued: cmd.IssuedAt, TTL: cmd.TTL, RolloutID: r.RolloutID}
	if args != nil {
		audited.Args = args.(json.RawMessage)
	}
	if err := d.opts.Store.AddCommand(ctx, audited); err != nil {
		return control.Command{}, fmt.Errorf("dispatch: audit %s: %w", cmd.ID, err)
	}
	if err := d.opts.Publisher.Publish(ctx, cmd.Target.Topic(d.opts.Prefix), env); err != nil {
		return cmd, fmt.Errorf("%w: %s: %w", ErrNotPublished, cmd.ID, err)
	}
	return cmd, nil
}

// FeedbackType is the audit-log type of an operator's label of an alert.
// It is not a command type: the label travels on the device's feedback
// topic (docs/feedback.md), signed for feedback.PurposeFeedback.
const FeedbackType = "feedback"

// ErrBadFeedback wraps a label the devices would refuse as invalid.
var ErrBadFeedback = errors.New("dispatch: invalid feedback")

// Feedback is an operator's verdict on one alert.
type Feedback struct {
	Operator string
	Device   string
	AlertID  string
	Label    feedback.Kind
	// Class is a false alarm's true class (a label name or index); "" for
	// none.
	Class string
}

// SendFeedback signs f, records it in the audit log (type FeedbackType,
// linked to the alert), then publishes it on the device's feedback topic.
// The device answers on <prefix>/<device>/feedback/result, which the hub
// stores as the entry's result. Devices accept signed feedback only with
// control on (control.trusted_keys holding the hub's key); with control
// off they answer bad_signature.
func (d *Dispatcher) SendFeedback(ctx context.Context, f Feedback) (store.Command, error) {
	switch {
	case f.Label != feedback.FalseAlarm && f.Label != feedback.Confirmed:
		return store.Command{}, fmt.Errorf("%w: label must be %s or %s, got %q", ErrBadFeedback, feedback.FalseAlarm, feedback.Confirmed, f.Label)
	case f.Label == feedback.Confirmed && f.Class != "":
		return store.Command{}, fmt.Errorf("%w: a class goes only with %s", ErrBadFeedback, feedback.FalseAlarm)
	case utf8.RuneCountInString(f.Class) > 128 || strings.ContainsAny(f.Class, "/\\") || f.Class == "." || f.Class == "..":
		// feedback.schema.json's class: the device files the frame under it.
		return store.Command{}, fmt.Errorf("%w: class %q: at most 128 characters, no slashes, not . or ..", ErrBadFeedback, f.Class)
	}
	target, err := control.ParseTarget("device/" + f.Device)
	if err != nil {
		return store.Command{}, fmt.Errorf("%w: %w", ErrBadFeedback, err)
	}
	id := newID("fb-")
	verdict := map[string]any{"alert_id": f.AlertID, "label": f.Label}
	if f.Class != "" {
		verdict["class"] = f.Class
	}
	args, err := json.Marshal(verdict)
	if err != nil {
		return store.Command{}, err
	}
	verdict["v"], verdict["id"] = 1, id
	payload, err := json.Marshal(verdict)
	if err != nil {
		return store.Command{}, err
	}
	env, err := d.opts.Signer.Sign(feedback.PurposeFeedback, payload)
	if err != nil {
		return store.Command{}, err
	}
	audited := store.Command{ID: id, Operator: f.Operator, Type: FeedbackType, Target: target.String(),
		Args: args, Issued: time.Now().UTC(), AlertID: f.AlertID}
	if err := d.opts.Store.AddCommand(ctx, audited); err != nil {
		return store.Command{}, fmt.Errorf("dispatch: audit %s: %w", audited.ID, err)
	}
	if err := d.opts.Publisher.Publish(ctx, feedback.Topic(d.opts.Prefix, f.Device), env); err != nil {
		return audited, fmt.Errorf("%w: %s: %w", ErrNotPublished, audited.ID, err)
	}
	return audited, nil
}
