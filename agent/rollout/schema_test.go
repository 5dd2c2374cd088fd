package rollout

import (
	"encoding/json"
	"testing"

	"github.com/ood-agent/ood-agent/agent/internal/schematest"
)

// TestManifestSchema validates signed manifests against
// docs/schema/manifest.schema.json and the envelope definition.
func TestManifestSchema(t *testing.T) {
	manSchema, envSchema := schematest.Compile(t, "manifest.schema.json"), schematest.Compile(t, "command.schema.json#/$defs/envelope")
	e := newEnv(t)
	m := zooRelease(t, "2026.12-rc1", "fashion_mnist_cnn_energy_int8", nil).manifest(e.srv)
	m.MinAgentVersion = "v0.4.0"
	signed := e.sign(m)
	if err := schematest.Validate(envSchema, signed); err != nil {
		t.Errorf("signed manifest envelope: %v", err)
	}
	var env struct{ Payload string }
	json.Unmarshal(signed, &env)
	payload, _ := base64URL(env.Payload)
	if err := schematest.Validate(manSchema, payload); err != nil {
		t.Errorf("manifest %s: %v", payload, err)
	}
	for _, change := range []func(*Manifest){
		func(m *Manifest) { m.Version = ".." },
		func(m *Manifest) { m.Model.SHA256 = "ABC" },
		func(m *Manifest) { m.MinAgentVersion = "latest" },
	} {
		bad := m
		change(&bad)
		data, _ := json.Marshal(bad)
		if schematest.Validate(manSchema, data) == nil || bad.Validate() == nil {
			t.Errorf("schema or Validate accepts %s", data)
		}
	}
}
