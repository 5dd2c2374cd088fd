package config

import (
	"log/slog"
	"os"
	"reflect"
	"time"
)

// Values accepted by enumerated keys.
const (
	LogDebug = "debug"
	LogInfo  = "info"
	LogWarn  = "warn"
	LogError = "error"

	FormatText = "text"
	FormatJSON = "json"

	ScoreEnergy   = "energy"
	ScoreMSP      = "msp"
	ScoreMaxLogit = "maxlogit"
	ScoreTempMSP  = "tmsp"
	ScoreReAct    = "react"
	ScoreASH      = "ash"
	ScoreKNN      = "knn"
	ScoreSupport  = "support"

	SourceDir    = "dir"
	SourceHTTP   = "http"
	SourceFFmpeg = "ffmpeg"
	SourceStdin  = "stdin"

	CropCenter  = "center"
	CropStretch = "stretch"
	CropPad     = "pad"

	ColorAuto = "auto"
	ColorGray = "gray"
	ColorRGB  = "rgb"

	ModeFrame  = "frame"
	ModeStream = "stream"

	DropOldest = "oldest"
	DropNewest = "newest"
)

// EnvPrefix is the prefix of the environment variables that override keys.
const EnvPrefix = "OOD_AGENT"

// Config is the complete agent configuration. Keys are the mapstructure
// tags joined with dots, e.g. "mqtt.tls.ca_file".
type Config struct {
	// DeviceID names this device in MQTT topics and payloads. Empty means
	// the host name.
	DeviceID   string     `mapstructure:"device_id"`
	Log        Log        `mapstructure:"log"`
	Model      Model      `mapstructure:"model"`
	Source     Source     `mapstructure:"source"`
	Preprocess Preprocess `mapstructure:"preprocess"`
	Decision   Decision   `mapstructure:"decision"`
	MQTT       MQTT       `mapstructure:"mqtt"`
	Outbox     Outbox     `mapstructure:"outbox"`
	HTTP       HTTP       `mapstructure:"http"`
	Control    Control    `mapstructure:"control"`
	Feedback   Feedback   `mapstructure:"feedback"`
	Adapt      Adapt      `mapstructure:"adapt"`
}

// Log configures the agent's logger.
type Log struct {
	Level  string `mapstructure:"level"`  // debug, info, warn or error
	Format string `mapstructure:"format"` // text or json
}

// SlogLevel returns Level as a slog.Level, or slog.LevelInfo if Level is
// not one of the accepted values.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case LogDebug:
		return slog.LevelDebug
	case LogWarn:
		return slog.LevelWarn
	case LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Model selects the classifier and how it is scored.
type Model struct {
	// Path is the TFLite model file; empty means the embedded demo model.
	Path string `mapstructure:"path"`
	// Calibration is the calibration JSON; empty means the file next to
	// the model, or the embedded calibration for the demo model.
	Calibration string `mapstructure:"calibration"`
	Threads     int    `mapstructure:"threads"`
	Score       string `mapstructure:"score"` // energy, msp, maxlogit, tmsp, react, ash, knn or support
}

// Source configures where frames come from.
type Source struct {
	Type   string       `mapstructure:"type"`  // dir, http, ffmpeg or stdin
	FPS    float64      `mapstructure:"fps"`   // maximum frames per second; 0 is unlimited
	Queue  int          `mapstructure:"queue"` // capacity of the bounded frame queue
	Dir    DirSource    `mapstructure:"dir"`
	HTTP   HTTPSource   `mapstructure:"http"`
	FFmpeg FFmpegSource `mapstructure:"ffmpeg"`
}

// DirSource reads image files from a directory.
type DirSource struct {
	Path      string `mapstructure:"path"`
	Pattern   string `mapstructure:"pattern"` // glob matched against file names
	Watch     bool   `mapstructure:"watch"`   // keep watching for new files
	Recursive bool   `mapstructure:"recursive"`
}

// HTTPSource polls a snapshot URL.
type HTTPSource struct {
	URL      string        `mapstructure:"url" redact:"url"`
	Interval time.Duration `mapstructure:"interval"`
	Timeout  time.Duration `mapstructure:"timeout"`
	MaxBytes int64         `mapstructure:"max_bytes"`
	// Username and Password authenticate with HTTP basic auth; BearerToken
	// is sent as "Authorization: Bearer"; CAFile verifies an https
	// camera's certificate (self-signed ones are common).
	Username    string `mapstructure:"username"`
	Password    Secret `mapstructure:"password"`
	BearerToken Secret `mapstructure:"bearer_token"`
	CAFile      string `mapstructure:"ca_file"`
}

// FFmpegSource decodes a stream or device with an ffmpeg child process.
type FFmpegSource struct {
	Input     string   `mapstructure:"input" redact:"url"` // e.g. rtsp://camera/stream or /dev/video0
	InputArgs []string `mapstructure:"input_args"`         // placed before -i, e.g. -rtsp_transport tcp
	FPS       float64  `mapstructure:"fps"`
	Binary    string   `mapstructure:"binary"`
}

// Preprocess configures how a decoded frame becomes a model input.
type Preprocess struct {
	// Crop is center, stretch or pad; empty means the calibration's, or
	// center when the calibration does not record it.
	Crop  string `mapstructure:"crop"`
	Color string `mapstructure:"color"` // auto, gray or rgb
	// Mean and Std override the model's normalization when set; one value
	// applies to every channel.
	Mean      []float64 `mapstructure:"mean"`
	Std       []float64 `mapstructure:"std"`
	MaxBytes  int64     `mapstructure:"max_bytes"`  // largest encoded frame accepted
	MaxPixels int64     `mapstructure:"max_pixels"` // largest decoded frame accepted
}

// Decision turns scores into alerts.
type Decision struct {
	Mode string `mapstructure:"mode"` // frame or stream
	// Threshold overrides the calibrated threshold when not nil.
	Threshold *float64 `mapstructure:"threshold"`
	Stream    Stream   `mapstructure:"stream"`
}

// Stream configures stream mode: an event starts when K of the last N
// frames are out of distribution and ends after EndAfter consecutive
// in-distribution frames or Timeout without frames.
type Stream struct {
	K              int           `mapstructure:"k"`
	N              int           `mapstructure:"n"`
	EndAfter       int           `mapstructure:"end_after"`
	Timeout        time.Duration `mapstructure:"timeout"`
	UpdateInterval time.Duration `mapstructure:"update_interval"`
	Cooldown       time.Duration `mapstructure:"cooldown"`
}

// MQTT configures the broker connection and what is published.
type MQTT struct {
	// Broker is a URL with scheme tcp, ssl, tls, mqtt, mqtts, ws or wss.
	Broker         string        `mapstructure:"broker" redact:"url"`
	ClientID       string        `mapstructure:"client_id"` // empty means "ood-agent-" + device_id
	TopicPrefix    string        `mapstructure:"topic_prefix"`
	QoS            int           `mapstructure:"qos"`
	KeepAlive      time.Duration `mapstructure:"keepalive"`
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
	CleanSession   bool          `mapstructure:"clean_session"`
	BackoffInitial time.Duration `mapstructure:"backoff_initial"`
	BackoffMax     time.Duration `mapstructure:"backoff_max"`
	Username       string        `mapstructure:"username"`
	// Password is redacted whenever it is printed or logged.
	Password      Secret        `mapstructure:"password"`
	PasswordFile  string        `mapstructure:"password_file"`
	StatsInterval time.Duration `mapstructure:"stats_interval"`
	TLS           TLS           `mapstructure:"tls"`
	Evidence      Evidence      `mapstructure:"evidence"`
	HomeAssistant HomeAssistant `mapstructure:"homeassistant"`
}

// HomeAssistant configures MQTT discovery for Home Assistant: a binary
// sensor "out of distribution" and sensors for energy, OOD rate and fps,
// available while the agent's status is online.
type HomeAssistant struct {
	Discovery bool   `mapstructure:"discovery"`
	Prefix    string `mapstructure:"prefix"` // Home Assistant's discovery prefix
}

// TLS configures the broker connection's TLS; it applies to the ssl, tls,
// mqtts and wss schemes.
type TLS struct {
	CAFile             string `mapstructure:"ca_file"`
	CertFile           string `mapstructure:"cert_file"`
	KeyFile            string `mapstructure:"key_file"`
	ServerName         string `mapstructure:"server_name"`
	InsecureSkipVerify bool   `mapstructure:"insecure_skip_verify"`
}

// Evidence configures the JPEG thumbnail attached to alerts.
type Evidence struct {
	Enabled  bool `mapstructure:"enabled"`
	MaxBytes int  `mapstructure:"max_bytes"`
	Quality  int  `mapstructure:"quality"` // JPEG quality, 1 to 100
}

// Outbox configures the durable queue of messages awaiting publication.
type Outbox struct {
	Path        string `mapstructure:"path"`
	MaxMessages int    `mapstructure:"max_messages"`
	DropPolicy  string `mapstructure:"drop_policy"` // oldest or newest
}

// HTTP configures the local status and metrics server.
type HTTP struct {
	Listen string `mapstructure:"listen"` // host:port; empty disables the server
}

// Control configures remote control and model rollouts (docs/control.md).
// It mirrors agent/control.Config and agent/rollout.Config, which the
// runner builds from it, so that this package stays free of the agent's.
// Control is off unless TrustedKeys is set.
type Control struct {
	// TrustedKeys are the hub public keys ("ed25519:<base64>") whose
	// signed commands and manifests the agent obeys.
	TrustedKeys []string      `mapstructure:"trusted_keys"`
	Groups      []string      `mapstructure:"groups"`
	ClockSkew   time.Duration `mapstructure:"clock_skew"`
	MaxTTL      time.Duration `mapstructure:"max_ttl"`
	Rollout     Rollout       `mapstructure:"rollout"`
}

// Feedback configures the field-feedback store: features, logits and
// evidence of flagged frames and a reservoir sample of the others, kept in
// <dir of outbox.path>/feedback for operators to label (ood-agent feedback,
// MQTT <prefix>/<device>/feedback) and for ood-agent adapt.
type Feedback struct {
	Enabled    bool  `mapstructure:"enabled"`
	MaxFlagged int   `mapstructure:"max_flagged"`
	Reservoir  int   `mapstructure:"reservoir"` // unflagged frames sampled; 0 for none
	MaxBytes   int64 `mapstructure:"max_bytes"`
	Evidence   bool  `mapstructure:"evidence"` // keep the evidence JPEG (when mqtt.evidence makes one)
	Float16    bool  `mapstructure:"float16"`  // store vectors in half precision
}

// Adapt schedules the agent's own adaptation: when operators have
// labeled enough new alerts (feedback), the agent retrains the model's
// last layer on the stored vectors, as ood-agent adapt --features does,
// and switches to the new model through the rollout watch, which rolls
// it back if it flags too many frames. See docs/feedback.md.
type Adapt struct {
	Enabled bool `mapstructure:"enabled"`
	// MinLabels is how many labels newer than the last adaptation start
	// the next one.
	MinLabels int `mapstructure:"min_labels"`
	// Interval is how often the agent counts the labels.
	Interval time.Duration `mapstructure:"interval"`
	// TPR is the fraction of in-distribution frames the new calibration
	// keeps.
	TPR float64 `mapstructure:"tpr"`
	// MaxAccuracyDrop is the largest drop of cross-validated accuracy
	// accepted (0.01: one point); see adapt.Train for what a larger one
	// does.
	MaxAccuracyDrop float64 `mapstructure:"max_accuracy_drop"`
	// Threads is how many cores training may use; 0 means all. The
	// default, 1, leaves the others to inference, which goes on while
	// the agent trains.
	Threads int `mapstructure:"threads"`
}

// Enabled reports whether remote control is on.
func (c Control) Enabled() bool { return len(c.TrustedKeys) > 0 }

// Rollout configures model rollouts.
type Rollout struct {
	HubURL            string  `mapstructure:"hub_url" redact:"url"`
	CAFile            string  `mapstructure:"ca_file"`
	AllowHTTP         bool    `mapstructure:"allow_http"`
	SelfTestTolerance float64 `mapstructure:"self_test_tolerance"`
	SelfTestFrames    int     `mapstructure:"self_test_frames"`
	WatchFrames       int     `mapstructure:"watch_frames"`
	MaxOODRate        float64 `mapstructure:"max_ood_rate"`
}

// Default returns the configuration used when nothing overrides it.
func Default() *Config {
	c := defaults()
	c.derive()
	return c
}

// defaults returns the defaults of every key, leaving derived keys empty
// so that they follow the keys they derive from.
func defaults() *Config {
	return &Config{
		DeviceID: hostname(),
		Log:      Log{Level: LogInfo, Format: FormatText},
		Model:    Model{Threads: 0, Score: ScoreEnergy},
		Source: Source{
			Type:  SourceDir,
			Queue: 4,
			Dir: DirSource{
				Path:    "/var/lib/ood-agent/inbox",
				Pattern: "*",
				Watch:   true,
			},
			HTTP: HTTPSource{
				Interval: time.Second,
				Timeout:  5 * time.Second,
				MaxBytes: 10 << 20,
			},
			FFmpeg: FFmpegSource{FPS: 2, Binary: "ffmpeg"},
		},
		Preprocess: Preprocess{
			Crop:      "", // the calibration's, else center
			Color:     ColorAuto,
			MaxBytes:  20 << 20,
			MaxPixels: 40_000_000,
		},
		Decision: Decision{
			Mode: ModeFrame,
			Stream: Stream{
				K:              3,
				N:              5,
				EndAfter:       10,
				Timeout:        60 * time.Second,
				UpdateInterval: 5 * time.Second,
				Cooldown:       30 * time.Second,
			},
		},
		MQTT: MQTT{
			Broker:         "tcp://127.0.0.1:1883",
			TopicPrefix:    "ood",
			QoS:            1,
			KeepAlive:      30 * time.Second,
			ConnectTimeout: 10 * time.Second,
			BackoffInitial: time.Second,
			BackoffMax:     60 * time.Second,
			StatsInterval:  60 * time.Second,
			Evidence:       Evidence{MaxBytes: 65536, Quality: 80},
			HomeAssistant:  HomeAssistant{Prefix: "homeassistant"},
		},
		Outbox: Outbox{
			Path:        "/var/lib/ood-agent/outbox.db",
			MaxMessages: 10000,
			DropPolicy:  DropOldest,
		},
		HTTP: HTTP{Listen: "127.0.0.1:9108"},
		// The same defaults as control.DefaultConfig and
		// rollout.DefaultConfig; a runner test keeps them equal.
		Control: Control{
			ClockSkew: 30 * time.Second,
			MaxTTL:    time.Hour,
			Rollout:   Rollout{SelfTestTolerance: 0.15, SelfTestFrames: 32, WatchFrames: 200, MaxOODRate: 0.5},
		},
		// The same defaults as feedback.DefaultConfig (a runner test
		// keeps them equal).
		Feedback: Feedback{MaxFlagged: 500, Reservoir: 200, MaxBytes: 64 << 20, Evidence: true},
		Adapt:    Adapt{MinLabels: 20, Interval: time.Hour, TPR: 0.95, MaxAccuracyDrop: 0.01, Threads: 1},
	}
}

// derive fills the keys whose empty value means "follow another key".
func (c *Config) derive() {
	if c.DeviceID == "" {
		c.DeviceID = hostname()
	}
	if c.MQTT.ClientID == "" {
		c.MQTT.ClientID = "ood-agent-" + c.DeviceID
	}
	// An empty list means "not set", like an absent one; one spelling
	// keeps comparisons simple.
	for _, s := range []*[]float64{&c.Preprocess.Mean, &c.Preprocess.Std} {
		if len(*s) == 0 {
			*s = nil
		}
	}
	for _, s := range []*[]string{&c.Source.FFmpeg.InputArgs, &c.Control.TrustedKeys, &c.Control.Groups} {
		if len(*s) == 0 {
			*s = nil
		}
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "ood-agent"
	}
	return h
}

// Keys returns every configuration key, in the order of the Config struct.
func Keys() []string {
	var keys []string
	walk(reflect.ValueOf(Config{}), "", func(key string, _ reflect.StructField, _ reflect.Value) {
		keys = append(keys, key)
	})
	return keys
}

// walk calls fn for every leaf field of the struct v, in declaration
// order, with the field's dotted key.
func walk(v reflect.Value, prefix string, fn func(key string, f reflect.StructField, v reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("mapstructure")
		if prefix != "" {
			key = prefix + "." + key
		}
		if f.Type.Kind() == reflect.Struct {
			walk(v.Field(i), key, fn)
			continue
		}
		fn(key, f, v.Field(i))
	}
}

// sections returns the keys of the nested structs, such as "mqtt.tls".
func sections() map[string]bool {
	s := make(map[string]bool)
	for _, k := range Keys() {
		for i := range len(k) {
			if k[i] == '.' {
				s[k[:i]] = true
			}
		}
	}
	return s
}
