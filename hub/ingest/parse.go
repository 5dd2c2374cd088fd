package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/feedback"
	"github.com/ood-agent/ood-agent/docs/schema"
	"github.com/ood-agent/ood-agent/hub/store"
)

// MaxEvidenceBytes bounds a stored evidence image; the agent's default
// limit is far below it.
const MaxEvidenceBytes = 4 << 20

// Rejection reasons, the label of the dropped-messages metric.
const (
	reasonTopic    = "topic"
	reasonJSON     = "json"
	reasonSchema   = "schema"
	reasonMismatch = "device_mismatch"
	reasonEvidence = "evidence"
)

// rejectError is a message the hub will not store, with a short reason
// for the metrics.
type rejectError struct {
	reason string
	err    error
}

func (e *rejectError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *rejectError) Unwrap() error { return e.err }

func reject(reason string, format string, args ...any) error {
	return &rejectError{reason: reason, err: fmt.Errorf(format, args...)}
}

// resultKind and feedbackResultKind are the topic kinds of command and
// feedback results, after the device level.
const (
	resultKind         = "cmd/result"
	feedbackResultKind = "feedback/result"
)

// Parser turns MQTT messages under one topic prefix into store records,
// validating JSON payloads against the published JSON Schemas.
type Parser struct {
	prefix  string
	schemas map[string]*jsonschema.Schema // by topic kind
}

// NewParser returns a Parser for the topics under prefix.
func NewParser(prefix string) (*Parser, error) {
	if err := event.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	p := &Parser{prefix: prefix, schemas: map[string]*jsonschema.Schema{}}
	files := map[string]string{"alert": "alert.schema.json", "status": "status.schema.json", "stats": "stats.schema.json",
		"adaptation": "adaptation.schema.json", resultKind: "command_result.schema.json", feedbackResultKind: "feedback.schema.json#/$defs/result"}
	for kind, ref := range files {
		file, fragment, _ := strings.Cut(ref, "#")
		data, err := schema.FS.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("ingest: read schema %s: %w", file, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("ingest: parse schema %s: %w", file, err)
		}
		url := "mem:///" + file
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("ingest: add schema %s: %w", file, err)
		}
		if fragment != "" {
			url += "#" + fragment
		}
		if p.schemas[kind], err = c.Compile(url); err != nil {
			return nil, fmt.Errorf("ingest: compile schema %s: %w", file, err)
		}
	}
	return p, nil
}

// Filters are the subscriptions that bring every message the Parser
// reads; group, if not empty, puts the high-volume ones into the MQTT
// shared subscription $share/<group>/… so that hub replicas split them.
// Status stays a plain subscription: it is retained, brokers do not
// send retained messages to shared subscriptions, and every replica
// applying a state is harmless. It comes last: the client subscribes in
// this order, so once statuses arrive the other filters are in place.
func (p *Parser) Filters(group string, evidence bool) []string {
	share := func(f string) string {
		if group == "" {
			return f
		}
		return "$share/" + group + "/" + f
	}
	fs := []string{share(p.prefix + "/+/alert"), share(p.prefix + "/+/stats"), share(p.prefix + "/+/adaptation"),
		share(p.prefix + "/+/" + resultKind), share(p.prefix + "/+/" + feedbackResultKind)}
	if evidence {
		fs = append(fs, share(p.prefix+"/+/evidence/+"))
	}
	return append(fs, p.prefix+"/+/status")
}

// Parse reads one message received at now into b; now is zero for a
// retained message, which says nothing about when the device was last
// heard from. A message the hub
// does not store — a foreign topic, invalid JSON, a payload that breaks
// its schema or names another device than its topic — is an error that
// wraps the reason; a retained status being cleared (empty payload) is
// skipped without error.
func (p *Parser) Parse(topic string, payload []byte, now time.Time, b *store.Batch) error {
	rest, ok := strings.CutPrefix(topic, p.prefix+"/")
	if !ok {
		return reject(reasonTopic, "topic %q is not under prefix %q", topic, p.prefix)
	}
	device, kind, ok := strings.Cut(rest, "/")
	if !ok || device == "" {
		return reject(reasonTopic, "topic %q has no device level", topic)
	}
	if id, isEvidence := strings.CutPrefix(kind, "evidence/"); isEvidence {
		return p.parseEvidence(device, id, payload, now, b)
	}
	sch := p.schemas[kind]
	if sch == nil {
		return reject(reasonTopic, "topic %q: unknown kind %q", topic, kind)
	}
	if kind == "status" && len(payload) == 0 {
		return nil // a retained status being cleared
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return reject(reasonJSON, "%s: %v", topic, err)
	}
	if err := sch.Validate(inst); err != nil {
		return reject(reasonSchema, "%s: %v", topic, firstLine(err))
	}
	switch kind {
	case "alert":
		m, err := decodeOwn(topic, device, payload, "device_id", func(m *event.Message) string { return m.DeviceID })
		if err != nil {
			return err
		}
		b.Alerts = append(b.Alerts, alertRecord(m, payload, now))
	case "stats":
		s, err := decodeOwn(topic, device, payload, "device_id", func(s *event.Stats) string { return s.DeviceID })
		if err != nil {
			return err
		}
		b.Stats = append(b.Stats, statsRecord(s, payload, now))
	case "status":
		s, err := decodeOwn(topic, device, payload, "device_id", func(s *event.Status) string { return s.DeviceID })
		if err != nil {
			return err
		}
		b.Statuses = append(b.Statuses, store.Status{DeviceID: device, State: string(s.State), Time: s.Time, Received: now,
			Version: s.Version, ModelName: s.Model.Name, ModelSHA: s.Model.SHA256})
	case "adaptation":
		ad, err := decodeOwn(topic, device, payload, "device_id", func(a *event.Adaptation) string { return a.DeviceID })
		if err != nil {
			return err
		}
		b.Adaptations = append(b.Adaptations, store.Adaptation{ID: ad.ID, DeviceID: device, Time: ad.Time, Received: now,
			Version: ad.Version, Stage: string(ad.Stage), Payload: payload})
	case resultKind:
		r, err := decodeOwn(topic, device, payload, "device", func(r *control.Result) string { return r.Device })
		if err != nil {
			return err
		}
		if r.ID == "" {
			// The answer to a message that was not a command at all:
			// nothing in the audit log to attach it to.
			return nil
		}
		b.Results = append(b.Results, store.CommandResult{CommandID: r.ID, DeviceID: device, OK: r.OK, Code: string(r.Code),
			Stage: r.Stage, Message: r.Message, Time: r.Time, Received: now, Payload: payload})
	case feedbackResultKind:
		r, err := decodeOwn(topic, device, payload, "device", func(r *feedback.Result) string { return r.Device })
		if err != nil {
			return err
		}
		if r.ID == "" {
			return nil // the answer to a message that was not feedback
		}
		// Feedback is audited with the commands (dispatch.SendFeedback),
		// so its answer is a command result. Feedback another sender
		// published on the broker has no audit entry; its result is
		// stored all the same and shows nowhere.
		b.Results = append(b.Results, store.CommandResult{CommandID: r.ID, DeviceID: device, OK: r.OK, Code: string(r.Code),
			Stage: "labeled", Message: feedbackMessage(*r), Time: r.Time, Received: now, Payload: payload})
	}
	return nil
}

// decodeOwn decodes a payload the schema has accepted and checks that
// the device it names (in field) is the one of its topic.
func decodeOwn[T any](topic, device string, payload []byte, field string, owner func(*T) string) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(payload, v); err != nil {
		return nil, reject(reasonSchema, "%s: %v", topic, err)
	}
	if d := owner(v); d != device {
		return nil, reject(reasonMismatch, "%s: %s %q", topic, field, d)
	}
	return v, nil
}

// feedbackMessage says what a device did with a label.
func feedbackMessage(r feedback.Result) string {
	switch {
	case !r.OK:
		return r.Message
	case r.Class != "":
		return fmt.Sprintf("alert %s labeled %s (class %s)", r.AlertID, r.Label, r.Class)
	}
	return fmt.Sprintf("alert %s labeled %s", r.AlertID, r.Label)
}

func (p *Parser) parseEvidence(device, id string, payload []byte, now time.Time, b *store.Batch) error {
	switch {
	case id == "" || strings.Contains(id, "/"):
		return reject(reasonTopic, "evidence topic of %s has a bad id %q", device, id)
	case len(payload) > MaxEvidenceBytes:
		return reject(reasonEvidence, "evidence %s is %d bytes, the limit is %d", id, len(payload), MaxEvidenceBytes)
	case !bytes.HasPrefix(payload, []byte{0xff, 0xd8, 0xff}):
		return reject(reasonEvidence, "evidence %s is not a JPEG", id)
	}
	b.Evidence = append(b.Evidence, store.Evidence{ID: id, DeviceID: device, Received: now, ContentType: event.EvidenceContentType, Data: payload})
	return nil
}

func alertRecord(m *event.Message, payload []byte, now time.Time) store.Alert {
	a := store.Alert{
		ID: m.ID, DeviceID: m.DeviceID, Type: string(m.Type), Time: m.Time, Received: now,
		Origin: m.Origin, FrameSeq: int64(m.FrameSeq), Label: m.Label, LabelName: m.LabelName,
		Confidence: m.Confidence, Energy: m.Energy, Score: m.Score, Threshold: m.Threshold, Method: m.Method,
		ModelName: m.Model.Name, ModelSHA: m.Model.SHA256, Payload: payload,
	}
	if m.Event != nil {
		a.EventID = m.Event.ID
	}
	if m.Evidence != nil {
		a.EvidenceID = m.Evidence.ID
	}
	return a
}

func statsRecord(s *event.Stats, payload []byte, now time.Time) store.Stats {
	r := store.Stats{
		ID: s.ID, DeviceID: s.DeviceID, Time: s.Time, Received: now, IntervalS: s.Interval.Seconds(),
		Frames: int64(s.Frames), OODFrames: int64(s.OODFrames), FPS: s.FPS(),
		Calibration:  store.Quantiles{P05: s.Calibration.EnergyP05, P50: s.Calibration.EnergyP50, P95: s.Calibration.EnergyP95},
		CalThreshold: s.Calibration.Threshold, Payload: payload,
	}
	if s.Inference != nil {
		r.InferenceP50 = &s.Inference.P50
	}
	if e := s.Energy; e != nil {
		r.Energy = store.Quantiles{P05: &e.P05, P50: &e.P50, P95: &e.P95}
	}
	return r
}

// firstLine keeps the head of a validation error, which can list every
// failing keyword over many lines.
func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Reason returns the rejection reason of an error from Parse, or "" if
// err is not a rejection.
func Reason(err error) string {
	var r *rejectError
	if errors.As(err, &r) {
		return r.reason
	}
	return ""
}
