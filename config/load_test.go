package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestLoadDefaults(t *testing.T) {
	got, err := Load("", nil)
	if err != nil {
		t.Fatalf("Load(\"\", nil) error: %v", err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Load(\"\", nil) =\n%v\nwant\n%v", got, want)
	}
	if got.DeviceID != hostname() {
		t.Errorf("device_id = %q, want the host name %q", got.DeviceID, hostname())
	}
	if want := "ood-agent-" + got.DeviceID; got.MQTT.ClientID != want {
		t.Errorf("mqtt.client_id = %q, want %q", got.MQTT.ClientID, want)
	}
}

func TestLoadGood(t *testing.T) {
	tests := []struct {
		file  string
		check func(*Config) []string // returns the mismatches
	}{
		{"minimal.good.yml", func(c *Config) (bad []string) {
			if c.DeviceID != "cam-01" {
				bad = append(bad, "device_id = "+c.DeviceID)
			}
			if c.MQTT.ClientID != "ood-agent-cam-01" {
				bad = append(bad, "mqtt.client_id = "+c.MQTT.ClientID)
			}
			if c.MQTT.Broker != "mqtts://broker.local:8883" {
				bad = append(bad, "mqtt.broker = "+c.MQTT.Broker)
			}
			if c.MQTT.QoS != 1 {
				bad = append(bad, "mqtt.qos is not the default")
			}
			return bad
		}},
		{"empty_sections.good.yml", func(c *Config) (bad []string) {
			if c.MQTT.Broker != Default().MQTT.Broker || c.Log != Default().Log {
				bad = append(bad, "empty sections did not keep their defaults")
			}
			return bad
		}},
		{"stream.good.yml", func(c *Config) (bad []string) {
			if c.Decision.Mode != ModeStream || c.Decision.Stream.K != 4 || c.Decision.Stream.Timeout != 2*time.Minute {
				bad = append(bad, "decision not loaded")
			}
			if c.Decision.Threshold == nil || *c.Decision.Threshold != -7.25 {
				bad = append(bad, "decision.threshold not -7.25")
			}
			if !reflect.DeepEqual(c.Source.FFmpeg.InputArgs, []string{"-rtsp_transport", "tcp"}) {
				bad = append(bad, "source.ffmpeg.input_args = "+strings.Join(c.Source.FFmpeg.InputArgs, " "))
			}
			if !reflect.DeepEqual(c.Preprocess.Mean, []float64{0.485, 0.456, 0.406}) {
				bad = append(bad, "preprocess.mean not loaded")
			}
			if c.HTTP.Listen != "" {
				bad = append(bad, "http.listen not disabled")
			}
			if c.Outbox.DropPolicy != DropNewest || c.MQTT.Evidence.MaxBytes != 65536 {
				bad = append(bad, "outbox or evidence wrong")
			}
			return bad
		}},
		{"http.good.yml", func(c *Config) (bad []string) {
			if c.Source.HTTP.Interval != 250*time.Millisecond || c.Source.HTTP.Timeout != 5*time.Second {
				bad = append(bad, "source.http durations wrong")
			}
			return bad
		}},
	}
	files, _ := filepath.Glob("testdata/*.good.yml")
	if len(files) != len(tests) {
		t.Errorf("testdata has %d good files, the table %d: keep them in step", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := Load(filepath.Join("testdata", tt.file), nil)
			if err != nil {
				t.Fatalf("Load(%s) error: %v", tt.file, err)
			}
			for _, b := range tt.check(c) {
				t.Errorf("Load(%s): %s", tt.file, b)
			}
		})
	}
}

// TestLoadBad lists every bad file with the exact error Load reports: all
// its problems at once, one per line, the first line naming the file.
func TestLoadBad(t *testing.T) {
	tests := []struct {
		file string
		want []string // the error's lines, without the "config FILE: " prefix
	}{
		{"unknown_key.bad.yml", []string{"mqtt.qoss: unknown key (did you mean mqtt.qos?)"}},
		{"qos.bad.yml", []string{"mqtt.qos: must be 0, 1 or 2, got 3"}},
		{"k_gt_n.bad.yml", []string{"decision.stream.k: must not exceed decision.stream.n (5), got 6"}},
		{"negative_duration.bad.yml", []string{"mqtt.keepalive: must be positive, got -30s"}},
		{"duration_no_unit.bad.yml", []string{`decision.stream.cooldown: duration 30 has no unit, want e.g. "30s"`}},
		{"enum.bad.yml", []string{`model.score: must be one of energy, msp, maxlogit, tmsp, react, ash, knn, support, got "entropy"`}},
		{"url_scheme.bad.yml", []string{`mqtt.broker: scheme must be one of tcp, ssl, tls, mqtt, mqtts, ws, wss, got "http"`}},
		{"password_both.bad.yml", []string{"mqtt.password: must not be set together with mqtt.password_file"}},
		{"section_scalar.bad.yml", []string{"source: must be a mapping of keys"}},
		{"type_mismatch.bad.yml", []string{"source.queue: cannot parse value as 'int': strconv.ParseInt: invalid syntax"}},
		{"source_missing.bad.yml", []string{"source.ffmpeg.input: must be set when source.type is ffmpeg"}},
		{"several.bad.yml", []string{
			`log.level: must be one of debug, info, warn, error, got "verbose"`,
			"mqtt.evidence.quality: must be between 1 and 100, got 101",
			"outbox.max_messages: must be at least 1, got 0",
		}},
		{"all_stages.bad.yml", []string{
			"http: must be a mapping of keys",
			"log.levle: unknown key (did you mean log.level?)",
			"source.queue: cannot parse value as 'int': strconv.ParseInt: invalid syntax",
			`decision.stream.cooldown: duration 30 has no unit, want e.g. "30s"`,
			`log.format: must be one of text, json, got "xml"`,
			"source.fps: must not be negative, got -1",
			"decision.stream.k: must not exceed decision.stream.n (5), got 9",
			"mqtt.qos: must be 0, 1 or 2, got 3",
		}},
		{"not_a_mapping.bad.yml", []string{
			"parse: While parsing config: yaml: unmarshal errors:",
			"  line 1: cannot unmarshal !!seq into map[string]interface {}",
		}},
	}
	files, _ := filepath.Glob("testdata/*.bad.yml")
	if len(files) != len(tests) {
		t.Errorf("testdata has %d bad files, the table %d: keep them in step", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			c, err := Load(path, nil)
			if err == nil {
				t.Fatalf("Load(%s) = %v, want an error", tt.file, c)
			}
			prefix := "config " + path + ": "
			got, ok := strings.CutPrefix(err.Error(), prefix)
			if !ok {
				t.Fatalf("Load(%s) error = %q, want it to start with %q", tt.file, err, prefix)
			}
			if lines := strings.Split(got, "\n"); !reflect.DeepEqual(lines, tt.want) {
				t.Errorf("Load(%s) error lines:\n%s\nwant\n%s", tt.file, strings.Join(lines, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLoadFieldErrors(t *testing.T) {
	_, err := Load("testdata/several.bad.yml", nil)
	joined, ok := errors.Unwrap(err).(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Load error %v does not wrap a list of errors", err)
	}
	var keys []string
	for _, e := range joined.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %q is not a *FieldError", e)
		}
		keys = append(keys, fe.Key)
	}
	want := []string{"log.level", "mqtt.evidence.quality", "outbox.max_messages"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("FieldError keys = %q, want %q", keys, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.yml"), nil)
	if err == nil || !strings.Contains(err.Error(), "absent.yml") {
		t.Errorf("Load(absent.yml) error = %v, want one naming the file", err)
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Setenv("OOD_AGENT_MQTT_TLS_CA_FILE", "/etc/ca.pem")
	t.Setenv("OOD_AGENT_MQTT_QOS", "2")
	t.Setenv("OOD_AGENT_DEVICE_ID", "env-cam")
	t.Setenv("OOD_AGENT_DECISION_THRESHOLD", "-3.5")
	t.Setenv("OOD_AGENT_DECISION_STREAM_TIMEOUT", "90s")
	t.Setenv("OOD_AGENT_PREPROCESS_MEAN", "0.5, 0.25,0.125")
	t.Setenv("OOD_AGENT_SOURCE_FFMPEG_INPUT_ARGS", "-rtsp_transport,tcp")
	t.Setenv("OOD_AGENT_SOURCE_DIR_WATCH", "false")
	t.Setenv("OOD_AGENT_HTTP_LISTEN", "") // empty is a value: it disables the server
	t.Setenv("OOD_AGENT_MQTT_PASSWORD", "s3cret")
	// Two keys during a rotation; standard base64 has no commas.
	t.Setenv("OOD_AGENT_CONTROL_TRUSTED_KEYS", testKey+","+testKey2)
	t.Setenv("OOD_AGENT_CONTROL_ROLLOUT_WATCH_FRAMES", "50")

	for _, file := range []string{"", "testdata/minimal.good.yml"} {
		t.Run("file="+file, func(t *testing.T) {
			c, err := Load(file, nil)
			if err != nil {
				t.Fatalf("Load(%q) error: %v", file, err)
			}
			checks := []struct {
				key       string
				got, want any
			}{
				{"mqtt.tls.ca_file", c.MQTT.TLS.CAFile, "/etc/ca.pem"},
				{"mqtt.qos", c.MQTT.QoS, 2},
				{"device_id", c.DeviceID, "env-cam"},
				{"mqtt.client_id", c.MQTT.ClientID, "ood-agent-env-cam"},
				{"decision.threshold", derefOr(c.Decision.Threshold, 0), -3.5},
				{"decision.stream.timeout", c.Decision.Stream.Timeout, 90 * time.Second},
				{"preprocess.mean", c.Preprocess.Mean, []float64{0.5, 0.25, 0.125}},
				{"source.ffmpeg.input_args", c.Source.FFmpeg.InputArgs, []string{"-rtsp_transport", "tcp"}},
				{"source.dir.watch", c.Source.Dir.Watch, false},
				{"http.listen", c.HTTP.Listen, ""},
				{"mqtt.password", c.MQTT.Password.Reveal(), "s3cret"},
				{"control.trusted_keys", c.Control.TrustedKeys, []string{testKey, testKey2}},
				{"control.rollout.watch_frames", c.Control.Rollout.WatchFrames, 50},
			}
			for _, ck := range checks {
				if !reflect.DeepEqual(ck.got, ck.want) {
					t.Errorf("%s = %#v, want %#v", ck.key, ck.got, ck.want)
				}
			}
			if file != "" && c.MQTT.Broker != "mqtts://broker.local:8883" {
				t.Errorf("mqtt.broker = %q, want the file's value", c.MQTT.Broker)
			}
		})
	}
}

// Ed25519 public keys as 'ood-agent keygen' prints them.
const (
	testKey  = "ed25519:D04pjYbm2DAX3P6CvMgFvTi0XgFkkGUP4fzDIE+36oA="
	testKey2 = "ed25519:3b6SWPjnZVxUAUjpnXbvrsUe0DMxyW04Jnr3Ql6Kl4I="
)

// TestLoadControl reads the control section from YAML and refuses a bad
// key by name.
func TestLoadControl(t *testing.T) {
	c, err := load([]byte("control:\n  trusted_keys: ["+testKey+"]\n  groups: [lobby, outdoor]\n  clock_skew: 5s\n  rollout:\n    hub_url: https://hub.example:8443/\n    max_ood_rate: 0.25\n"), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	ctl := c.Control
	if !ctl.Enabled() || !reflect.DeepEqual(ctl.Groups, []string{"lobby", "outdoor"}) || ctl.ClockSkew != 5*time.Second ||
		ctl.MaxTTL != time.Hour || ctl.Rollout.HubURL != "https://hub.example:8443/" || ctl.Rollout.MaxOODRate != 0.25 || ctl.Rollout.WatchFrames != 200 {
		t.Errorf("control = %+v", ctl)
	}
	if Default().Control.Enabled() {
		t.Error("control is on by default")
	}
	_, err = load([]byte("control:\n  trusted_keys: [ed25519:short]\n  max_tll: 1h\n"), nil, false)
	for _, want := range []string{"control.trusted_keys[0]", "control.max_tll", "control.max_ttl"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad control section: error %v, want it to name %s", err, want)
		}
	}
}

func TestEnvInvalid(t *testing.T) {
	t.Setenv("OOD_AGENT_MQTT_QOS", "7")
	_, err := Load("", nil)
	if err == nil || !strings.Contains(err.Error(), "mqtt.qos: must be 0, 1 or 2, got 7") {
		t.Errorf("Load with OOD_AGENT_MQTT_QOS=7 error = %v, want the qos problem", err)
	}
}

func derefOr(p *float64, def float64) float64 {
	if p == nil {
		return def
	}
	return *p
}

func TestEnvName(t *testing.T) {
	tests := []struct{ key, want string }{
		{"mqtt.tls.ca_file", "OOD_AGENT_MQTT_TLS_CA_FILE"},
		{"device_id", "OOD_AGENT_DEVICE_ID"},
	}
	for _, tt := range tests {
		if got := EnvName(tt.key); got != tt.want {
			t.Errorf("EnvName(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestFlagOverrides(t *testing.T) {
	t.Setenv("OOD_AGENT_MQTT_BROKER", "tcp://127.0.0.1:1999")
	t.Setenv("OOD_AGENT_LOG_LEVEL", "warn")

	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("mqtt.broker", "", "")
	fs.Int("mqtt-qos", 0, "")                           // dashed form of mqtt.qos
	fs.Duration("decision.stream.cooldown", 0, "")      // typed flag
	fs.StringSlice("source.ffmpeg.input_args", nil, "") // list flag
	fs.String("log.level", "debug", "")                 // defined but not set
	fs.String("unrelated", "", "")                      // not a key: ignored
	args := []string{
		"--mqtt.broker=tcp://127.0.0.1:2000",
		"--mqtt-qos=0",
		"--decision.stream.cooldown=45s",
		"--source.ffmpeg.input_args=-f,v4l2",
		"--unrelated=x",
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c, err := Load("testdata/minimal.good.yml", fs)
	if err != nil {
		t.Fatalf("Load error: %v", err)
	}
	checks := []struct {
		key       string
		got, want any
	}{
		{"mqtt.broker", c.MQTT.Broker, "tcp://127.0.0.1:2000"}, // flag beats env and file
		{"mqtt.qos", c.MQTT.QoS, 0},                            // a zero flag value still counts
		{"decision.stream.cooldown", c.Decision.Stream.Cooldown, 45 * time.Second},
		{"source.ffmpeg.input_args", c.Source.FFmpeg.InputArgs, []string{"-f", "v4l2"}},
		{"log.level", c.Log.Level, "warn"},  // unset flag: env wins
		{"device_id", c.DeviceID, "cam-01"}, // no flag: file wins
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.key, ck.got, ck.want)
		}
	}
}

func TestUnsetFlagDefaultIgnored(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.Int("mqtt.qos", 2, "")
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	c, err := Load("", fs)
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.QoS != 1 {
		t.Errorf("mqtt.qos = %d, want the configuration default 1, not the unset flag's default", c.MQTT.QoS)
	}
}
