package control

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ood-agent/ood-agent/agent/internal/schematest"
)

// TestSchemasMatchCode validates what the Signer and the Service produce
// against docs/schema, and checks the schema refuses some payloads the
// parser refuses.
func TestSchemasMatchCode(t *testing.T) {
	cmdSchema := schematest.Compile(t, "command.schema.json")
	envSchema := schematest.Compile(t, "command.schema.json#/$defs/envelope")
	resSchema := schematest.Compile(t, "command_result.schema.json")

	key := newKey(t)
	s := NewSigner(key)
	v := newVerifier(t, ringOf(key), "cam-a", "lobby")
	var published [][]byte
	svc, err := NewService(ServiceOptions{Prefix: "ood", Verifier: v, Handler: &recorder{},
		Transport: transportFunc(func(_ string, p []byte) error { published = append(published, p); return nil })})
	if err != nil {
		t.Fatal(err)
	}
	manifest, _ := Seal(key, PurposeManifest, []byte(`{"v":1}`))
	for _, d := range []Draft{
		{Target: Device("cam-a"), Type: TypeSetThreshold, Args: &SetThresholdArgs{TargetTPR: ptr(0.95)}},
		{Target: Group("lobby"), Type: TypeSetDecision, Args: &SetDecisionArgs{Mode: ptr("stream"), K: ptr(2), N: ptr(3)}},
		{Target: All, Type: TypePause},
		{Target: All, Type: TypeReload},
		{Target: Device("cam-a"), Type: TypeRollout, Args: &RolloutArgs{Manifest: manifest}},
	} {
		_, env, err := s.SignCommand(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := schematest.Validate(envSchema, env); err != nil {
			t.Errorf("envelope of %s: %v", d.Type, err)
		}
		var e Envelope
		json.Unmarshal(env, &e)
		payload, _ := b64.DecodeString(e.Payload)
		if err := schematest.Validate(cmdSchema, payload); err != nil {
			t.Errorf("payload %s: %v", payload, err)
		}
		svc.Process(context.Background(), env)
	}
	svc.Process(context.Background(), []byte("junk"))
	svc.Process(context.Background(), seal(t, newKey(t), wire(TypePause, "all", nil)))
	if len(published) != 7 {
		t.Fatalf("%d results published, want 7", len(published))
	}
	for _, r := range published {
		if err := schematest.Validate(resSchema, r); err != nil {
			t.Errorf("result %s: %v", r, err)
		}
	}

	for name, w := range map[string]map[string]any{
		"both threshold args": wire(TypeSetThreshold, "all", map[string]any{"threshold": 1, "target_tpr": 0.5}),
		"args on pause":       wire(TypePause, "all", map[string]any{"x": 1}),
		"bad target":          wire(TypePause, "cam-a", nil),
		"unknown type":        wire("format", "all", nil),
	} {
		payload, _ := json.Marshal(w)
		if schematest.Validate(cmdSchema, payload) == nil {
			t.Errorf("schema accepts %s (%s)", name, payload)
		}
		if _, err := ParseCommand(payload); err == nil {
			t.Errorf("parser accepts %s", name)
		}
	}
}
