package rollout

import (
	"strings"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
)

func validManifest() Manifest {
	a := Artifact{URL: "https://hub/m", SHA256: strings.Repeat("ab", 32), Size: 10}
	return Manifest{V: 1, Version: "2026.12.1", Created: time.Unix(0, 0).UTC(), Model: a, Calibration: a}
}

func TestManifestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Manifest)
		want   string
	}{
		{"version 2", func(m *Manifest) { m.V = 2 }, "format version 2"},
		{"slash in version", func(m *Manifest) { m.Version = "../etc" }, "version"},
		{"dots only", func(m *Manifest) { m.Version = ".." }, "version"},
		{"empty version", func(m *Manifest) { m.Version = "" }, "version"},
		{"bad min version", func(m *Manifest) { m.MinAgentVersion = "latest" }, "min_agent_version"},
		{"ftp url", func(m *Manifest) { m.Model.URL = "ftp://hub/m" }, "scheme"},
		{"no url", func(m *Manifest) { m.Calibration.URL = "" }, "calibration: url is missing"},
		{"upper-case hash", func(m *Manifest) { m.Model.SHA256 = strings.Repeat("AB", 32) }, "sha256"},
		{"short hash", func(m *Manifest) { m.Model.SHA256 = "abc" }, "sha256"},
		{"zero size", func(m *Manifest) { m.Model.Size = 0 }, "size 0"},
		{"huge size", func(m *Manifest) { m.Model.Size = 1 << 40 }, "size"},
	}
	if err := validManifest().Validate(); err != nil {
		t.Fatalf("valid manifest: %v", err)
	}
	for _, tt := range tests {
		m := validManifest()
		tt.change(&m)
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestAgentTooOld(t *testing.T) {
	for _, tt := range []struct {
		agent, min string
		old        bool
	}{
		{"1.2.0", "", false},
		{"1.2.0", "1.2.0", false},
		{"v1.2.3", "1.2", false},
		{"1.2.0", "1.10.0", true},
		{"0.9.9-rc1", "1.0", true},
		{"2.0.0+build5", "1.99.99", false},
		{"dev", "9.0.0", false},
		{"", "9.0.0", false},
	} {
		if got := agentTooOld(tt.agent, tt.min); got != tt.old {
			t.Errorf("agentTooOld(%q, %q) = %v, want %v", tt.agent, tt.min, got, tt.old)
		}
	}
}

// FuzzParseManifest signs arbitrary payloads: parsing must not panic, and
// an accepted manifest must be valid and safe as a directory name.
func FuzzParseManifest(f *testing.F) {
	key, err := control.GenerateKey(nil)
	if err != nil {
		f.Fatal(err)
	}
	s := control.NewSigner(key)
	ring, _ := control.ParseKeyRing([]string{s.PublicKey()})
	f.Add([]byte(`{"v":1,"version":"a","model":{"url":"/m","sha256":"` + strings.Repeat("0", 64) + `","size":1},"calibration":{"url":"/c","sha256":"` + strings.Repeat("1", 64) + `","size":1}}`))
	f.Add([]byte(`{"v":1,"version":"..","model":{}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		signed, err := s.Sign(control.PurposeManifest, payload)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseManifest(ring, signed)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid manifest: %v", err)
		}
		if strings.ContainsAny(m.Version, "/\\\x00") || strings.Trim(m.Version, ".") == "" {
			t.Fatalf("accepted version %q, unsafe as a directory name", m.Version)
		}
		if _, err := ParseManifest(control.KeyRing{}, signed); err == nil {
			t.Fatal("accepted with no trusted keys")
		}
	})
}
