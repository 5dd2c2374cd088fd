package layout

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestSystemConfig(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"absolute kept", "outbox:\n  path: /var/lib/ood-agent/outbox.db\n", "outbox:\n  path: /var/lib/ood-agent/outbox.db\n"},
		{"relative plain", "outbox:\n  path: outbox.db  # queue\n", "outbox:\n  path: /var/lib/ood-agent/outbox.db  # queue\n"},
		{"relative dotted", "outbox:\n  path: ./data/outbox.db\n", "outbox:\n  path: /var/lib/ood-agent/data/outbox.db\n"},
		{"double quoted", "model:\n  path: \"models/m.tflite\"\n", "model:\n  path: \"/var/lib/ood-agent/models/m.tflite\"\n"},
		{"single quoted", "model:\n  calibration: 'c.json'\n", "model:\n  calibration: '/var/lib/ood-agent/c.json'\n"},
		{"flow mapping", "mqtt: {password_file: pw, broker: tcp://x}\n", "mqtt: {password_file: /var/lib/ood-agent/pw, broker: tcp://x}\n"},
		{"empty means default", "model:\n  path: \"\"\n", "model:\n  path: \"\"\n"},
		{"not a path key", "source:\n  ffmpeg:\n    binary: ffmpeg\n", "source:\n  ffmpeg:\n    binary: ffmpeg\n"},
		{"null", "model:\n  calibration: null\n", "model:\n  calibration: null\n"},
		{"outside state but read only", "mqtt:\n  tls:\n    ca_file: /etc/ssl/certs/ca.pem\n", "mqtt:\n  tls:\n    ca_file: /etc/ssl/certs/ca.pem\n"},
		{"comments kept", "# top\nsource:\n  # where\n  dir:\n    path: inbox\n", "# top\nsource:\n  # where\n  dir:\n    path: /var/lib/ood-agent/inbox\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SystemConfig([]byte(tt.in))
			if err != nil {
				t.Fatalf("SystemConfig(%q) = %v", tt.in, err)
			}
			if want := ConfigHeader + tt.want; string(got) != want {
				t.Errorf("SystemConfig(%q) = %q, want %q", tt.in, got, want)
			}
		})
	}
}

func TestSystemConfigRejects(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"outbox outside state", "outbox:\n  path: /srv/outbox.db\n", "outbox.path"},
		{"outbox is state dir", "outbox:\n  path: /var/lib/ood-agent\n", "outbox.path"},
		{"tmp", "source:\n  dir:\n    path: /tmp/frames\n", "source.dir.path"},
		{"home", "mqtt:\n  password_file: /home/pi/pw\n", "mqtt.password_file"},
		{"tilde", "model:\n  path: ~/m.tflite\n", "model.path"},
		{"escaped relative", "model:\n  path: \"m\\u0031.tflite\"\n", "cannot rewrite"},
		{"not yaml", "outbox: [\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SystemConfig([]byte(tt.in))
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SystemConfig(%q) = %q, %v, want ErrConfig naming %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestSystemConfigExample runs the repository's annotated example through
// SystemConfig: it must be installable as it is.
func TestSystemConfigExample(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "agent.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := SystemConfig(example)
	if err != nil {
		t.Fatalf("SystemConfig(config/agent.example.yaml) = %v", err)
	}
	var want, have any
	if err := yaml.Unmarshal(example, &want); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(got, &have); err != nil {
		t.Fatalf("installed config does not parse: %v", err)
	}
	// The example uses absolute system paths already, so only the header
	// may differ.
	if !bytes.Equal(got, append([]byte(ConfigHeader), example...)) {
		t.Errorf("SystemConfig(example) rewrote the example; want only the header added")
	}
}

func FuzzSystemConfig(f *testing.F) {
	f.Add([]byte("outbox:\n  path: outbox.db\n"))
	f.Add([]byte("model: {path: 'a b', calibration: \"c\"}\nmqtt:\n  tls:\n    ca_file: x\n"))
	f.Add([]byte("a: &x {path: p}\nb: *x\n"))
	f.Add([]byte("- path: q\n- [path, x]\n"))
	f.Add([]byte(ConfigHeader + "outbox:\n  path: /var/lib/ood-agent/o.db\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := SystemConfig(in)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(out, []byte(ConfigHeader)) {
			t.Fatalf("SystemConfig(%q) = %q, missing the header", in, out)
		}
		again, err := SystemConfig(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Errorf("SystemConfig(SystemConfig(%q) = %q) = %q, %v, want it unchanged", in, out, again, err)
		}
	})
}
