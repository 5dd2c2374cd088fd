package event

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaDir holds the JSON Schemas of the payloads, which are part of the
// documentation.
const schemaDir = "../../docs/schema"

func compileSchema(t testing.TB, name string) *jsonschema.Schema {
	t.Helper()
	path, err := filepath.Abs(filepath.Join(schemaDir, name))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	s, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return s
}

// validateJSON marshals v and validates the result against schema.
func validateJSON(t testing.TB, schema *jsonschema.Schema, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%+v): %v", v, err)
	}
	if err := validateBytes(schema, data); err != nil {
		t.Errorf("%s does not validate: %v", data, err)
	}
}

func validateBytes(schema *jsonschema.Schema, data []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return schema.Validate(inst)
}

// sampleMessages returns one message of every type, made by a Decider.
func sampleMessages(t testing.TB) []Message {
	t.Helper()
	topics, err := NewTopics("ood/site-a", "cam-01")
	if err != nil {
		t.Fatal(err)
	}
	frame, err := NewDecider(Settings{Mode: ModeFrame}, Options{DeviceID: "cam-01", Model: testModel})
	if err != nil {
		t.Fatal(err)
	}
	msgs := frame.Observe(observation(1, t0, -2.5))
	msgs[0].AttachEvidence(topics, 31337)

	s, err := NewDecider(stream(2, 3, 2, time.Minute, 2*time.Second, 0), Options{DeviceID: "cam-01", Model: testModel})
	if err != nil {
		t.Fatal(err)
	}
	for i, score := range []float64{-1, -3, -2, 1, 1} {
		msgs = append(msgs, s.Observe(observation(uint64(i+2), t0.Add(time.Duration(i)*time.Second), score))...)
	}
	var types []string
	for _, m := range msgs {
		types = append(types, string(m.Type))
	}
	if got := strings.Join(types, " "); got != "alert event_start event_update event_end" {
		t.Fatalf("sample message types = %s, want alert event_start event_update event_end", got)
	}
	return msgs
}

func sampleStats(t testing.TB) []Stats {
	ids := NewIDGenerator(nil)
	full := NewStats(ids, "cam-01", t0, time.Minute)
	full.Frames, full.OODFrames, full.DroppedFrames, full.SkippedFrames = 1200, 36, 3, 1
	full.Inference = &LatencyQuantiles{P50: 41.5, P90: 48.2, P99: 63}
	full.Energy = &EnergyQuantiles{P05: -14.1, P50: -11.2, P95: -6.3}
	p05, p50, p95 := -15.0, -11.9, -8.8
	full.Calibration = CalibrationInfo{Method: "energy", Threshold: 7.95, EnergyP05: &p05, EnergyP50: &p50, EnergyP95: &p95}
	full.OutboxDepth, full.OutboxDropped, full.Alerts = 2, 0, 4

	empty := NewStats(ids, "cam-01", t0.Add(time.Minute), time.Minute)
	empty.Calibration = CalibrationInfo{Method: "msp", Threshold: 0.62}
	return []Stats{full, empty}
}

func sampleStatuses() []Status {
	return []Status{
		started(NewStatus(StateOnline, "cam-01", "v0.3.0", testModel, t0), t0.Add(-time.Hour)),
		NewStatus(StateOffline, "cam-01", "v0.3.0", testModel, t0),
	}
}

// sampleAdaptations returns an adaptation with its training and one
// reported after a restart, without.
func sampleAdaptations() []Adaptation {
	training := &AdaptTraining{Labels: 24, IDSamples: 180, ConfirmedOOD: 12, AccuracyBefore: 0.91, AccuracyAfter: 0.905, Folds: 4, Step: 0.75}
	return []Adaptation{
		{ID: "0190e4b2-8f3a-7c1d-9e2f-3a4b5c6d7e8f", DeviceID: "cam-01", Time: t0, Version: "adapt-20250314T102653Z",
			Stage: AdaptSwitching, Model: testModel, Training: training},
		{ID: "0190e4b2-8f3a-7c1d-9e2f-3a4b5c6d7e90", DeviceID: "cam-01", Time: t0.Add(time.Minute), Version: "adapt-20250314T102653Z",
			Stage: AdaptRolledBack, Message: "14 of 50 watched frames out of distribution", Model: testModel},
	}
}

func TestSchemasAcceptMessages(t *testing.T) {
	alert := compileSchema(t, "alert.schema.json")
	for _, m := range sampleMessages(t) {
		t.Run(string(m.Type), func(t *testing.T) { validateJSON(t, alert, m) })
	}
	status := compileSchema(t, "status.schema.json")
	for _, s := range sampleStatuses() {
		t.Run("status "+string(s.State), func(t *testing.T) { validateJSON(t, status, s) })
	}
	stats := compileSchema(t, "stats.schema.json")
	for i, s := range sampleStats(t) {
		t.Run("stats "+[]string{"full", "empty"}[i], func(t *testing.T) { validateJSON(t, stats, s) })
	}
	adaptation := compileSchema(t, "adaptation.schema.json")
	for _, a := range sampleAdaptations() {
		t.Run("adaptation "+string(a.Stage), func(t *testing.T) { validateJSON(t, adaptation, a) })
	}
}

// TestSchemasRejectBrokenMessages takes real payloads, breaks one thing
// in each, and checks the schema notices.
func TestSchemasRejectBrokenMessages(t *testing.T) {
	msgs := sampleMessages(t)
	byType := map[Type]Message{}
	for _, m := range msgs {
		byType[m.Type] = m
	}
	tests := []struct {
		name   string
		schema string
		v      any
		breakf func(map[string]any)
	}{
		{"alert without id", "alert.schema.json", byType[TypeAlert], func(o map[string]any) { delete(o, "id") }},
		{"alert with string label", "alert.schema.json", byType[TypeAlert], func(o map[string]any) { o["label"] = "3" }},
		{"alert with unknown field", "alert.schema.json", byType[TypeAlert], func(o map[string]any) { o["severity"] = "high" }},
		{"alert with event fields", "alert.schema.json", byType[TypeAlert], func(o map[string]any) { o["frames"] = 3 }},
		{"alert with unknown type", "alert.schema.json", byType[TypeAlert], func(o map[string]any) { o["type"] = "alarm" }},
		{"alert with wrong schema", "alert.schema.json", byType[TypeAlert], func(o map[string]any) { o["schema"] = "ood-agent/alert/v2" }},
		{"alert with time not in UTC", "alert.schema.json", byType[TypeAlert], func(o map[string]any) { o["time"] = "2025-03-14T10:26:53.000+01:00" }},
		{"alert with non-v7 id", "alert.schema.json", byType[TypeAlert], func(o map[string]any) { o["id"] = "6ba7b810-9dad-11d1-80b4-00c04fd430c8" }},
		{"alert with upper-case sha256", "alert.schema.json", byType[TypeAlert], func(o map[string]any) {
			o["model"].(map[string]any)["sha256"] = strings.ToUpper(testSHA)
		}},
		{"alert with evidence of another type", "alert.schema.json", byType[TypeAlert], func(o map[string]any) {
			o["evidence"].(map[string]any)["content_type"] = "image/png"
		}},
		{"alert with confidence above 1", "alert.schema.json", byType[TypeAlert], func(o map[string]any) { o["confidence"] = 1.5 }},
		{"event_start without event_id", "alert.schema.json", byType[TypeEventStart], func(o map[string]any) { delete(o, "event_id") }},
		{"event_start with end reason", "alert.schema.json", byType[TypeEventStart], func(o map[string]any) { o["end_reason"] = "timeout" }},
		{"event_update without frames", "alert.schema.json", byType[TypeEventUpdate], func(o map[string]any) { delete(o, "frames") }},
		{"event_update with fractional duration", "alert.schema.json", byType[TypeEventUpdate], func(o map[string]any) { o["duration_ms"] = 1.5 }},
		{"event_end without end reason", "alert.schema.json", byType[TypeEventEnd], func(o map[string]any) { delete(o, "end_reason") }},
		{"event_end with unknown end reason", "alert.schema.json", byType[TypeEventEnd], func(o map[string]any) { o["end_reason"] = "bored" }},
		{"status without model", "status.schema.json", sampleStatuses()[0], func(o map[string]any) { delete(o, "model") }},
		{"status with unknown state", "status.schema.json", sampleStatuses()[1], func(o map[string]any) { o["state"] = "asleep" }},
		{"status with device id holding a slash", "status.schema.json", sampleStatuses()[0], func(o map[string]any) { o["device_id"] = "a/b" }},
		{"stats without fps", "stats.schema.json", sampleStats(t)[0], func(o map[string]any) { delete(o, "fps") }},
		{"stats with string frames", "stats.schema.json", sampleStats(t)[0], func(o map[string]any) { o["frames"] = "1200" }},
		{"stats with incomplete quantiles", "stats.schema.json", sampleStats(t)[0], func(o map[string]any) {
			delete(o["inference_ms"].(map[string]any), "p99")
		}},
		{"stats with ood_rate above 1", "stats.schema.json", sampleStats(t)[0], func(o map[string]any) { o["ood_rate"] = 1.2 }},
		{"adaptation with unknown stage", "adaptation.schema.json", sampleAdaptations()[0], func(o map[string]any) { o["stage"] = "done" }},
		{"adaptation without version", "adaptation.schema.json", sampleAdaptations()[0], func(o map[string]any) { delete(o, "version") }},
		{"adaptation with accuracy in percent", "adaptation.schema.json", sampleAdaptations()[0], func(o map[string]any) {
			o["training"].(map[string]any)["accuracy_after"] = 90.5
		}},
	}
	schemas := map[string]*jsonschema.Schema{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := schemas[tt.schema]
			if s == nil {
				s = compileSchema(t, tt.schema)
				schemas[tt.schema] = s
			}
			data, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if err := validateBytes(s, data); err != nil {
				t.Fatalf("the unbroken payload %s does not validate: %v", data, err)
			}
			var o map[string]any
			if err := json.Unmarshal(data, &o); err != nil {
				t.Fatal(err)
			}
			tt.breakf(o)
			broken, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			if err := validateBytes(s, broken); err == nil {
				t.Errorf("%s validates against %s, want an error", broken, tt.schema)
			}
		})
	}
}

// TestDocExamples checks that every JSON example in docs/mqtt.md is valid
// under the schema it names, and that the doc shows every message type.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/mqtt.md")
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]*jsonschema.Schema{
		AlertSchema:      compileSchema(t, "alert.schema.json"),
		StatusSchema:     compileSchema(t, "status.schema.json"),
		StatsSchema:      compileSchema(t, "stats.schema.json"),
		AdaptationSchema: compileSchema(t, "adaptation.schema.json"),
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(doc, -1)
	seen := map[string]bool{}
	for i, b := range blocks {
		var head struct{ Schema, Type, State, Stage string }
		if err := json.Unmarshal(b[1], &head); err != nil {
			t.Errorf("example %d: %v\n%s", i, err, b[1])
			continue
		}
		s := schemas[head.Schema]
		if s == nil {
			t.Errorf("example %d: unknown schema %q", i, head.Schema)
			continue
		}
		if err := validateBytes(s, b[1]); err != nil {
			t.Errorf("example %d (%s %s%s) does not validate: %v", i, head.Schema, head.Type, head.State, err)
		}
		seen[head.Schema+" "+head.Type+head.State+head.Stage] = true
	}
	for _, k := range []string{
		AlertSchema + " alert", AlertSchema + " event_start", AlertSchema + " event_update", AlertSchema + " event_end",
		StatusSchema + " online", StatusSchema + " offline", StatsSchema + " ", AdaptationSchema + " switching",
	} {
		if !seen[k] {
			t.Errorf("docs/mqtt.md has no example of %s", k)
		}
	}
}

// started sets a status's start time.
func started(s Status, t time.Time) Status {
	s.Started = t
	return s
}
