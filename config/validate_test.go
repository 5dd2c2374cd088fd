package config

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"device id slash", func(c *Config) { c.DeviceID = "a/b" }, `device_id: must not contain /, +, # or NUL, got "a/b"`},
		{"topic wildcard", func(c *Config) { c.MQTT.TopicPrefix = "ood/#" }, "mqtt.topic_prefix: must not contain +, # or NUL"},
		{"threads", func(c *Config) { c.Model.Threads = -1 }, "model.threads: must be 0 (all cores, at most 4) or more, got -1"},
		{"home assistant prefix", func(c *Config) { c.MQTT.HomeAssistant = HomeAssistant{Discovery: true, Prefix: "ha/#"} }, `mqtt.homeassistant.prefix: must be a topic without wildcards, got "ha/#"`},
		{"queue", func(c *Config) { c.Source.Queue = 0 }, "source.queue: must be at least 1, got 0"},
		{"dir path", func(c *Config) { c.Source.Dir.Path = "" }, "source.dir.path: must be set when source.type is dir"},
		{"dir path unused", func(c *Config) { c.Source.Type = SourceStdin; c.Source.Dir.Path = "" }, ""},
		{"glob", func(c *Config) { c.Source.Dir.Pattern = "[" }, `source.dir.pattern: must be a valid glob, got "["`},
		{"http url", func(c *Config) { c.Source.Type = SourceHTTP }, "source.http.url: must be set"},
		{"http url scheme", func(c *Config) { c.Source.HTTP.URL = "ftp://127.0.0.1/x" }, `source.http.url: scheme must be one of http, https, got "ftp"`},
		{"fps nan", func(c *Config) { c.Source.FPS = math.NaN() }, "source.fps: must be a finite number"},
		{"ffmpeg fps", func(c *Config) { c.Source.FFmpeg.FPS = 0 }, "source.ffmpeg.fps: must be positive, got 0"},
		{"std zero", func(c *Config) { c.Preprocess.Std = []float64{0.2, 0, 0.2} }, "preprocess.std: value 1 must be positive, got 0"},
		{"mean one", func(c *Config) { c.Preprocess.Mean = []float64{0.5} }, ""},
		{"threshold inf", func(c *Config) { inf := math.Inf(1); c.Decision.Threshold = &inf }, "decision.threshold: must be a finite number, got +Inf"},
		{"end after", func(c *Config) { c.Decision.Stream.EndAfter = 0 }, "decision.stream.end_after: must be at least 1, got 0"},
		{"control key", func(c *Config) { c.Control.TrustedKeys = []string{"ed25519:AAAA"} }, "control.trusted_keys[0]: want the standard base64 of a 32-byte Ed25519 public key"},
		{"control key prefix", func(c *Config) { c.Control.TrustedKeys = []string{"rsa:AAAA"} }, "control.trusted_keys[0]: want ed25519:<base64>"},
		{"control key ok", func(c *Config) {
			c.Control.TrustedKeys = []string{"ed25519:D04pjYbm2DAX3P6CvMgFvTi0XgFkkGUP4fzDIE+36oA="}
		}, ""},
		{"control group", func(c *Config) { c.Control.Groups = []string{"a/b"} }, "control.groups[0]: must not contain /"},
		{"control skew", func(c *Config) { c.Control.ClockSkew = -time.Second }, "control.clock_skew: must be between 0 and 1h, got -1s"},
		{"control ttl", func(c *Config) { c.Control.MaxTTL = 200 * time.Hour }, "control.max_ttl: must be between 0 and 168h"},
		{"rollout hub url", func(c *Config) { c.Control.Rollout.HubURL = "ftp://hub" }, `control.rollout.hub_url: scheme must be one of http, https, got "ftp"`},
		{"rollout watch", func(c *Config) { c.Control.Rollout.WatchFrames = 0 }, "control.rollout.watch_frames: must be at least 1, got 0"},
		{"rollout rate", func(c *Config) { c.Control.Rollout.MaxOODRate = 0 }, "control.rollout.max_ood_rate: must be above 0 and at most 1, got 0"},
		{"rollout tolerance", func(c *Config) { c.Control.Rollout.SelfTestTolerance = 2 }, "control.rollout.self_test_tolerance: must be between 0 and 1, got 2"},
		{"cooldown zero", func(c *Config) { c.Decision.Stream.Cooldown = 0 }, ""},
		{"cooldown negative", func(c *Config) { c.Decision.Stream.Cooldown = -1 }, "decision.stream.cooldown: must not be negative, got -1ns"},
		{"broker host", func(c *Config) { c.MQTT.Broker = "tcp://" }, `mqtt.broker: must include a host, got "tcp://"`},
		{"broker password not echoed", func(c *Config) { c.MQTT.Broker = "tcp://u:pw@" }, `mqtt.broker: must include a host, got "tcp://u:xxxxx@"`},
		{"broker every scheme", func(c *Config) { c.MQTT.Broker = "mqtts://127.0.0.1" }, ""},
		{"backoff order", func(c *Config) { c.MQTT.BackoffMax = c.MQTT.BackoffInitial / 2 }, "mqtt.backoff_max: must not be less than mqtt.backoff_initial (1s), got 500ms"},
		{"cert without key", func(c *Config) { c.MQTT.TLS.CertFile = "c.pem" }, "mqtt.tls.cert_file: mqtt.tls.cert_file and mqtt.tls.key_file must be set together"},
		{"evidence size", func(c *Config) { c.MQTT.Evidence.MaxBytes = 0 }, "mqtt.evidence.max_bytes: must be positive, got 0"},
		{"drop policy", func(c *Config) { c.Outbox.DropPolicy = "random" }, `outbox.drop_policy: must be one of oldest, newest, got "random"`},
		{"outbox path", func(c *Config) { c.Outbox.Path = "" }, "outbox.path: must not be empty"},
		{"listen", func(c *Config) { c.HTTP.Listen = "9108" }, `http.listen: must be host:port with a numeric port, or empty, got "9108"`},
		{"listen port", func(c *Config) { c.HTTP.Listen = ":99999" }, `http.listen: must be host:port`},
		{"listen any", func(c *Config) { c.HTTP.Listen = ":9108" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.edit(c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
