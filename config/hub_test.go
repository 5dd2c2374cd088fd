package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestHubExample: the example file holds exactly the defaults.
func TestHubExample(t *testing.T) {
	c, err := LoadHub("hub.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, DefaultHub()) {
		t.Errorf("hub.example.yaml = %+v\ndefaults = %+v", c, DefaultHub())
	}
}

func TestLoadHub(t *testing.T) {
	tests := []struct {
		name, yaml string
		errKey     string // "" = valid
		check      func(*HubFile) bool
	}{
		{"override", "hub:\n  retention: 48h\n  mqtt:\n    share_group: hubs\n", "", func(c *HubFile) bool {
			return c.Hub.Retention == 48*time.Hour && c.Hub.MQTT.ShareGroup == "hubs" && c.Hub.Listen == "127.0.0.1:9110"
		}},
		{"postgres", "hub:\n  database: postgres://hub@db/hub\n", "", nil},
		{"typo", "hub:\n  retension: 48h\n", "retension", nil},
		{"bad database", "hub:\n  database: mysql://x\n", "hub.database", nil},
		{"bad listen", "hub:\n  listen: nowhere\n", "hub.listen", nil},
		{"short retention", "hub:\n  retention: 1m\n", "hub.retention", nil},
		{"half tls", "hub:\n  tls:\n    cert_file: a.pem\n", "hub.tls", nil},
		{"bad share group", "hub:\n  mqtt:\n    share_group: a/b\n", "hub.mqtt.share_group", nil},
		{"bad level", "log:\n  level: loud\n", "log.level", nil},
		{"control", "hub:\n  public_url: https://hub.example:9110/ood\n  control:\n    key_file: /etc/ood-hub/signing.key\n", "", func(c *HubFile) bool {
			return c.Hub.Control.KeyFile == "/etc/ood-hub/signing.key" && c.Hub.PublicURL == "https://hub.example:9110/ood" && c.Hub.DataDir == "/var/lib/ood-agent/hub"
		}},
		{"bad public url", "hub:\n  public_url: hub.example\n", "hub.public_url", nil},
		{"ftp public url", "hub:\n  public_url: ftp://hub.example/\n", "hub.public_url", nil},
		{"control without data dir", "hub:\n  data_dir: \"\"\n  control:\n    key_file: k\n", "hub.data_dir", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hub.yaml")
			os.WriteFile(path, []byte(tt.yaml), 0o600)
			c, err := LoadHub(path)
			if tt.errKey == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tt.check != nil && !tt.check(c) {
					t.Errorf("config = %+v", c.Hub)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errKey) {
				t.Errorf("error %v, want one naming %s", err, tt.errKey)
			}
		})
	}
}

func TestHubToken(t *testing.T) {
	t.Setenv(HubTokenEnv, "")
	if _, err := (Hub{}).Token(); err == nil {
		t.Error("no token configured, no error")
	}
	t.Setenv(HubTokenEnv, "from-env")
	if s, err := (Hub{}).Token(); err != nil || s.Reveal() != "from-env" {
		t.Errorf("token = %v, %v", s, err)
	}
	path := filepath.Join(t.TempDir(), "token")
	os.WriteFile(path, []byte("from-file\n"), 0o600)
	s, err := Hub{TokenFile: path}.Token()
	if err != nil || s.Reveal() != "from-file" {
		t.Errorf("token = %v, %v", s, err)
	}
	if s.String() == "from-file" {
		t.Error("token printed in clear")
	}
	if p, err := (HubMQTT{}).Password(); err != nil || p != "" {
		t.Errorf("no password: %q, %v", p, err)
	}
}

// FuzzDecodeHub: no file crashes the hub configuration loader, and what it
// accepts validates.
func FuzzDecodeHub(f *testing.F) {
	example, _ := os.ReadFile("hub.example.yaml")
	f.Add(example)
	f.Add([]byte("hub:\n  retention: 1h\n"))
	f.Add([]byte("hub: [1, 2]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := DefaultHub()
		if err := decodeHub(data, c); err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted a configuration that does not validate: %v", err)
		}
	})
}
