package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// HubTokenEnv is the environment variable that holds the hub's access
// token when hub.token_file is not set.
const HubTokenEnv = "OOD_AGENT_HUB_TOKEN"

// HubMQTTPasswordEnv holds the hub's broker password when
// hub.mqtt.password_file is not set.
const HubMQTTPasswordEnv = "OOD_AGENT_HUB_MQTT_PASSWORD"

// HubFile is the configuration file of `ood-agent hub`
// (config/hub.example.yaml).
type HubFile struct {
	Hub Hub `mapstructure:"hub"`
	Log Log `mapstructure:"log"`
}

// Hub configures the central server.
type Hub struct {
	// Listen is the HTTP address of the UI and API.
	Listen string `mapstructure:"listen"`
	// Database is sqlite:///path or a postgres:// URL.
	Database string `mapstructure:"database" redact:"url"`
	// Retention is how long alerts, stats and evidence are kept.
	Retention time.Duration `mapstructure:"retention"`
	// TokenFile holds the access token; empty means $OOD_AGENT_HUB_TOKEN.
	TokenFile string  `mapstructure:"token_file"`
	TLS       HubTLS  `mapstructure:"tls"`
	MQTT      HubMQTT `mapstructure:"mqtt"`
	// DataDir holds the uploaded model releases.
	DataDir string `mapstructure:"data_dir"`
	// PublicURL is the hub's address as agents reach it
	// (https://hub.example:9110); model download URLs in rollout
	// manifests start with it. Empty: manifests carry paths relative to
	// the agents' control.rollout.hub_url.
	PublicURL string     `mapstructure:"public_url"`
	Control   HubControl `mapstructure:"control"`
}

// HubControl turns fleet control on (docs/control.md).
type HubControl struct {
	// KeyFile is the hub's Ed25519 signing key (ood-agent keygen); empty
	// leaves control off.
	KeyFile string `mapstructure:"key_file"`
}

// HubTLS serves the UI and API over HTTPS when both files are set.
type HubTLS struct {
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
}

// HubMQTT is the hub's broker connection.
type HubMQTT struct {
	Broker       string        `mapstructure:"broker" redact:"url"`
	ClientID     string        `mapstructure:"client_id"`
	TopicPrefix  string        `mapstructure:"topic_prefix"`
	ShareGroup   string        `mapstructure:"share_group"`
	Username     string        `mapstructure:"username"`
	PasswordFile string        `mapstructure:"password_file"`
	KeepAlive    time.Duration `mapstructure:"keepalive"`
	Evidence     bool          `mapstructure:"evidence"`
	BatchSize    int           `mapstructure:"batch_size"`
	TLS          TLS           `mapstructure:"tls"`
}

// DefaultHub returns the hub defaults, as in config/hub.example.yaml.
func DefaultHub() *HubFile {
	return &HubFile{
		Hub: Hub{
			Listen:    "127.0.0.1:9110",
			Database:  "sqlite:///var/lib/ood-agent/hub.db",
			Retention: 30 * 24 * time.Hour,
			DataDir:   "/var/lib/ood-agent/hub",
			MQTT: HubMQTT{
				Broker:      "tcp://127.0.0.1:1883",
				ClientID:    "ood-agent-hub",
				TopicPrefix: "ood",
				KeepAlive:   30 * time.Second,
				Evidence:    true,
				BatchSize:   500,
			},
		},
		Log: Log{Level: "info", Format: "text"},
	}
}

// LoadHub reads a hub configuration file over the defaults; path "" gives
// the defaults. Unknown keys are errors, so a typo does not silently
// leave a default in place.
func LoadHub(path string) (*HubFile, error) {
	c := DefaultHub()
	if path == "" {
		return c, c.Validate()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := decodeHub(data, c); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

func decodeHub(data []byte, c *HubFile) error {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	if err := v.UnmarshalExact(c, func(dc *mapstructure.DecoderConfig) {
		dc.DecodeHook = durationHook
	}); err != nil {
		return errors.Join(decodeErrors(err)...)
	}
	return c.Validate()
}

// Validate reports every invalid hub setting.
func (c *HubFile) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	h := c.Hub
	if _, _, err := net.SplitHostPort(h.Listen); err != nil {
		bad("hub.listen", "want host:port, got %q", h.Listen)
	}
	if !strings.HasPrefix(h.Database, "sqlite://") && !strings.HasPrefix(h.Database, "postgres://") && !strings.HasPrefix(h.Database, "postgresql://") {
		bad("hub.database", "want sqlite:///path or postgres://…")
	}
	if h.Retention < time.Hour {
		bad("hub.retention", "must be at least 1h, got %v", h.Retention)
	}
	if (h.TLS.CertFile == "") != (h.TLS.KeyFile == "") {
		bad("hub.tls", "cert_file and key_file go together")
	}
	if h.PublicURL != "" {
		if u, err := url.Parse(h.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
			bad("hub.public_url", "want an http(s)://host[:port][/path] URL, got %q", h.PublicURL)
		}
	}
	if h.Control.KeyFile != "" && h.DataDir == "" {
		bad("hub.data_dir", "is required with hub.control.key_file: uploaded models are kept there")
	}
	m := h.MQTT
	if m.Broker == "" {
		bad("hub.mqtt.broker", "is required")
	}
	if m.ClientID == "" {
		bad("hub.mqtt.client_id", "is required: the persistent session is found by it")
	}
	if m.TopicPrefix == "" || strings.ContainsAny(m.TopicPrefix, "+#") {
		bad("hub.mqtt.topic_prefix", "must be a topic prefix without wildcards, got %q", m.TopicPrefix)
	}
	if strings.ContainsAny(m.ShareGroup, "/+#") {
		bad("hub.mqtt.share_group", "must be one topic level without wildcards, got %q", m.ShareGroup)
	}
	if m.KeepAlive < time.Second {
		bad("hub.mqtt.keepalive", "must be at least 1s")
	}
	if m.BatchSize < 1 || m.BatchSize > 10000 {
		bad("hub.mqtt.batch_size", "must be 1–10000, got %d", m.BatchSize)
	}
	if l := c.Log.Level; l != "debug" && l != "info" && l != "warn" && l != "error" {
		bad("log.level", "want debug, info, warn or error, got %q", l)
	}
	return errors.Join(errs...)
}

// Token returns the hub's access token from hub.token_file or, when that
// is not set, $OOD_AGENT_HUB_TOKEN. It is an error to have neither: the
// UI and API are never served without a token.
func (h Hub) Token() (Secret, error) {
	return secretFrom("hub.token_file", h.TokenFile, HubTokenEnv)
}

// Password returns the broker password from hub.mqtt.password_file or
// $OOD_AGENT_HUB_MQTT_PASSWORD; "" when neither is set.
func (m HubMQTT) Password() (Secret, error) {
	s, err := secretFrom("hub.mqtt.password_file", m.PasswordFile, HubMQTTPasswordEnv)
	if errors.Is(err, errNoSecret) {
		return "", nil
	}
	return s, err
}

var errNoSecret = errors.New("no secret configured")

func secretFrom(key, file, env string) (Secret, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", key, err)
		}
		s := strings.TrimSpace(string(data))
		if s == "" {
			return "", fmt.Errorf("%s: %s is empty", key, file)
		}
		return Secret(s), nil
	}
	if s := os.Getenv(env); s != "" {
		return Secret(s), nil
	}
	return "", fmt.Errorf("%w: set %s or $%s", errNoSecret, key, env)
}
