package rollout

import (
	"strings"
	"testing"
)

func TestCheckRelease(t *testing.T) {
	good := zooRelease(t, "v1", "fashion_mnist_cnn_energy_int8", nil)
	other := zooRelease(t, "v2", "fashion_mnist_cnn_int8", nil)
	if _, err := CheckRelease(good.model, good.cal); err != nil {
		t.Fatalf("zoo model and its calibration: %v", err)
	}
	for _, tt := range []struct {
		name       string
		model, cal []byte
		want       string
	}{
		{"calibration of another model", good.model, other.cal, "calibration is for model"},
		{"not a model", []byte("garbage garbage garbage"), good.cal, "model:"},
		{"not a calibration", good.model, []byte("{}"), "calibration:"},
	} {
		if _, err := CheckRelease(tt.model, tt.cal); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: CheckRelease = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

// TestNewManifestRollsOut builds a manifest the way the hub does and rolls
// it out.
func TestNewManifestRollsOut(t *testing.T) {
	e := newEnv(t)
	r := zooRelease(t, "2026.12.1", "fashion_mnist_cnn_energy_int8", nil)
	man, err := NewManifest(r.version, r.model, r.cal,
		e.srv.add("/api/v1/models/2026.12.1/model.tflite", r.model), e.srv.add("/api/v1/models/2026.12.1/calibration.json", r.cal))
	if err != nil {
		t.Fatal(err)
	}
	m := e.open(1)
	c, err := m.Prepare(t.Context(), e.sign(man))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := NewManifest("../x", r.model, r.cal, "/m", "/c"); err == nil {
		t.Error("NewManifest accepted version ../x")
	}
}
