package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FieldError is one problem with one key.
type FieldError struct {
	Key string // dotted key, e.g. "mqtt.qos"
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// brokerSchemes are the URL schemes accepted for mqtt.broker.
var brokerSchemes = []string{"tcp", "ssl", "tls", "mqtt", "mqtts", "ws", "wss"}

// Validate reports every problem with c, joined with errors.Join. Each
// problem is a *FieldError.
func (c *Config) Validate() error {
	var v validator

	v.check(c.DeviceID != "", "device_id", "must not be empty")
	v.topicLevel("device_id", c.DeviceID)

	v.oneOf("log.level", c.Log.Level, LogDebug, LogInfo, LogWarn, LogError)
	v.oneOf("log.format", c.Log.Format, FormatText, FormatJSON)

	v.check(c.Model.Threads >= 0, "model.threads", "must be 0 (all cores, at most 4) or more, got %d", c.Model.Threads)
	v.oneOf("model.score", c.Model.Score, ScoreEnergy, ScoreMSP, ScoreMaxLogit, ScoreTempMSP, ScoreReAct, ScoreASH, ScoreKNN, ScoreSupport)

	s := c.Source
	v.oneOf("source.type", s.Type, SourceDir, SourceHTTP, SourceFFmpeg, SourceStdin)
	v.finite("source.fps", s.FPS)
	v.check(s.FPS >= 0, "source.fps", "must not be negative, got %v", s.FPS)
	v.check(s.Queue >= 1, "source.queue", "must be at least 1, got %d", s.Queue)
	if s.Type == SourceDir {
		v.check(s.Dir.Path != "", "source.dir.path", "must be set when source.type is dir")
	}
	if _, err := filepath.Match(s.Dir.Pattern, ""); err != nil || s.Dir.Pattern == "" {
		v.add("source.dir.pattern", "must be a valid glob, got %q", s.Dir.Pattern)
	}
	if s.Type == SourceHTTP || s.HTTP.URL != "" {
		v.url("source.http.url", s.HTTP.URL, "http", "https")
	}
	v.positive("source.http.interval", s.HTTP.Interval)
	v.positive("source.http.timeout", s.HTTP.Timeout)
	v.check(s.HTTP.MaxBytes > 0, "source.http.max_bytes", "must be positive, got %d", s.HTTP.MaxBytes)
	if s.Type == SourceFFmpeg {
		v.check(s.FFmpeg.Input != "", "source.ffmpeg.input", "must be set when source.type is ffmpeg")
	}
	v.finite("source.ffmpeg.fps", s.FFmpeg.FPS)
	v.check(s.FFmpeg.FPS > 0, "source.ffmpeg.fps", "must be positive, got %v", s.FFmpeg.FPS)
	v.check(s.FFmpeg.Binary != "", "source.ffmpeg.binary", "must not be empty")

	p := c.Preprocess
	if p.Crop != "" {
		v.oneOf("preprocess.crop", p.Crop, CropCenter, CropStretch, CropPad)
	}
	v.oneOf("preprocess.color", p.Color, ColorAuto, ColorGray, ColorRGB)
	v.channels("preprocess.mean", p.Mean, false)
	v.channels("preprocess.std", p.Std, true)
	v.check(p.MaxBytes > 0, "preprocess.max_bytes", "must be positive, got %d", p.MaxBytes)
	v.check(p.MaxPixels > 0, "preprocess.max_pixels", "must be positive, got %d", p.MaxPixels)

	d := c.Decision
	v.oneOf("decision.mode", d.Mode, ModeFrame, ModeStream)
	if d.Threshold != nil {
		v.finite("decision.threshold", *d.Threshold)
	}
	st := d.Stream
	v.check(st.K >= 1, "decision.stream.k", "must be at least 1, got %d", st.K)
	v.check(st.N >= 1, "decision.stream.n", "must be at least 1, got %d", st.N)
	v.check(st.K <= st.N, "decision.stream.k", "must not exceed decision.stream.n (%d), got %d", st.N, st.K)
	v.check(st.EndAfter >= 1, "decision.stream.end_after", "must be at least 1, got %d", st.EndAfter)
	v.positive("decision.stream.timeout", st.Timeout)
	v.positive("decision.stream.update_interval", st.UpdateInterval)
	v.nonNegative("decision.stream.cooldown", st.Cooldown)

	m := c.MQTT
	v.url("mqtt.broker", m.Broker, brokerSchemes...)
	v.check(m.ClientID != "", "mqtt.client_id", "must not be empty")
	v.check(m.TopicPrefix != "", "mqtt.topic_prefix", "must not be empty")
	if strings.ContainsAny(m.TopicPrefix, "+#\x00") {
		v.add("mqtt.topic_prefix", "must not contain +, # or NUL, got %q", m.TopicPrefix)
	}
	v.check(m.QoS >= 0 && m.QoS <= 2, "mqtt.qos", "must be 0, 1 or 2, got %d", m.QoS)
	v.positive("mqtt.keepalive", m.KeepAlive)
	v.positive("mqtt.connect_timeout", m.ConnectTimeout)
	v.positive("mqtt.backoff_initial", m.BackoffInitial)
	v.positive("mqtt.backoff_max", m.BackoffMax)
	v.check(m.BackoffMax >= m.BackoffInitial, "mqtt.backoff_max",
		"must not be less than mqtt.backoff_initial (%v), got %v", m.BackoffInitial, m.BackoffMax)
	v.check(m.Password == "" || m.PasswordFile == "", "mqtt.password",
		"must not be set together with mqtt.password_file")
	v.positive("mqtt.stats_interval", m.StatsInterval)
	v.check((m.TLS.CertFile == "") == (m.TLS.KeyFile == ""), "mqtt.tls.cert_file",
		"mqtt.tls.cert_file and mqtt.tls.key_file must be set together")
	v.check(!m.HomeAssistant.Discovery || (m.HomeAssistant.Prefix != "" && !strings.ContainsAny(m.HomeAssistant.Prefix, "+#")),
		"mqtt.homeassistant.prefix", "must be a topic without wildcards, got %q", m.HomeAssistant.Prefix)
	v.check(m.Evidence.MaxBytes > 0, "mqtt.evidence.max_bytes", "must be positive, got %d", m.Evidence.MaxBytes)
	v.check(m.Evidence.Quality >= 1 && m.Evidence.Quality <= 100, "mqtt.evidence.quality",
		"must be between 1 and 100, got %d", m.Evidence.Quality)

	o := c.Outbox
	v.check(o.Path != "", "outbox.path", "must not be empty")
	v.check(o.MaxMessages >= 1, "outbox.max_messages", "must be at least 1, got %d", o.MaxMessages)
	v.oneOf("outbox.drop_policy", o.DropPolicy, DropOldest, DropNewest)

	if c.HTTP.Listen != "" {
		_, port, err := net.SplitHostPort(c.HTTP.Listen)
		if err == nil {
			_, err = strconv.ParseUint(port, 10, 16)
		}
		if err != nil {
			v.add("http.listen", "must be host:port with a numeric port, or empty, got %q", c.HTTP.Listen)
		}
	}
	v.control(c.Control)
	fb := c.Feedback
	v.check(fb.MaxFlagged >= 1 && fb.MaxFlagged <= 1_000_000, "feedback.max_flagged", "must be between 1 and 1000000, got %d", fb.MaxFlagged)
	v.check(fb.Reservoir >= 0 && fb.Reservoir <= 100_000, "feedback.reservoir", "must be between 0 and 100000, got %d", fb.Reservoir)
	v.check(fb.MaxBytes >= 1<<20, "feedback.max_bytes", "must be at least 1 MiB (1048576), got %d", fb.MaxBytes)
	ad := c.Adapt
	v.check(!ad.Enabled || fb.Enabled, "adapt.enabled", "needs feedback.enabled: adaptation trains on the feedback store")
	v.check(ad.MinLabels >= 1, "adapt.min_labels", "must be at least 1, got %d", ad.MinLabels)
	v.check(ad.Interval >= time.Second, "adapt.interval", "must be at least 1s, got %s", ad.Interval)
	v.check(ad.TPR > 0 && ad.TPR < 1, "adapt.tpr", "must be between 0 and 1, got %g", ad.TPR)
	v.check(ad.MaxAccuracyDrop >= 0 && ad.MaxAccuracyDrop < 1, "adapt.max_accuracy_drop", "must be in [0, 1), got %g", ad.MaxAccuracyDrop)
	v.check(ad.Threads >= 0, "adapt.threads", "must be 0 (all cores) or more, got %d", ad.Threads)
	return errors.Join(v.errs...)
}

// control checks the control section. The runner checks it again with
// agent/control and agent/rollout, which own these limits; checking here
// too reports mistakes with the other keys, before the agent starts.
func (v *validator) control(c Control) {
	for i, k := range c.TrustedKeys {
		key := fmt.Sprintf("control.trusted_keys[%d]", i)
		rest, ok := strings.CutPrefix(strings.TrimSpace(k), "ed25519:")
		raw, err := base64.StdEncoding.DecodeString(rest)
		switch {
		case !ok:
			v.add(key, "want ed25519:<base64> as printed by 'ood-agent keygen', got %q", k)
		case err != nil || len(raw) != ed25519.PublicKeySize:
			v.add(key, "want the standard base64 of a %d-byte Ed25519 public key, got %q", ed25519.PublicKeySize, k)
		}
	}
	for i, g := range c.Groups {
		key := fmt.Sprintf("control.groups[%d]", i)
		v.check(strings.TrimSpace(g) != "", key, "must not be empty")
		v.topicLevel(key, g)
	}
	v.check(c.ClockSkew >= 0 && c.ClockSkew <= time.Hour, "control.clock_skew", "must be between 0 and 1h, got %v", c.ClockSkew)
	v.check(c.MaxTTL >= 0 && c.MaxTTL <= 7*24*time.Hour, "control.max_ttl", "must be between 0 and 168h, got %v", c.MaxTTL)
	r := c.Rollout
	if r.HubURL != "" {
		v.url("control.rollout.hub_url", r.HubURL, "http", "https")
	}
	v.check(r.SelfTestTolerance >= 0 && r.SelfTestTolerance <= 1, "control.rollout.self_test_tolerance", "must be between 0 and 1, got %v", r.SelfTestTolerance)
	v.check(r.SelfTestFrames >= 0, "control.rollout.self_test_frames", "must not be negative, got %d", r.SelfTestFrames)
	v.check(r.WatchFrames >= 1, "control.rollout.watch_frames", "must be at least 1, got %d", r.WatchFrames)
	v.check(r.MaxOODRate > 0 && r.MaxOODRate <= 1, "control.rollout.max_ood_rate", "must be above 0 and at most 1, got %v", r.MaxOODRate)
}

type validator struct{ errs []error }

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) check(ok bool, key, format string, args ...any) {
	if !ok {
		v.add(key, format, args...)
	}
}

func (v *validator) oneOf(key, got string, allowed ...string) {
	if !slices.Contains(allowed, got) {
		v.add(key, "must be one of %s, got %q", strings.Join(allowed, ", "), got)
	}
}

func (v *validator) positive(key string, d time.Duration) {
	v.check(d > 0, key, "must be positive, got %v", d)
}

func (v *validator) nonNegative(key string, d time.Duration) {
	v.check(d >= 0, key, "must not be negative, got %v", d)
}

func (v *validator) finite(key string, f float64) {
	v.check(!math.IsNaN(f) && !math.IsInf(f, 0), key, "must be a finite number, got %v", f)
}

// topicLevel checks a value used as one level of an MQTT topic.
func (v *validator) topicLevel(key, s string) {
	if strings.ContainsAny(s, "/+#\x00") {
		v.add(key, "must not contain /, +, # or NUL, got %q", s)
	}
}

func (v *validator) url(key, s string, schemes ...string) {
	if s == "" {
		v.add(key, "must be set")
		return
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error repeats the input, which may hold a password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		v.add(key, "invalid URL: %v", err)
		return
	}
	if !slices.Contains(schemes, u.Scheme) {
		v.add(key, "scheme must be one of %s, got %q", strings.Join(schemes, ", "), u.Scheme)
		return
	}
	if u.Host == "" {
		v.add(key, "must include a host, got %q", redactURL(s))
	}
}

// channels checks a per-channel normalization override: empty, or one
// value for every channel, or one per channel of an RGB image.
func (v *validator) channels(key string, vals []float64, positive bool) {
	if len(vals) != 0 && len(vals) != 1 && len(vals) != 3 {
		v.add(key, "must have 1 or 3 values, got %d", len(vals))
	}
	for i, f := range vals {
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			v.add(key, "value %d must be a finite number, got %v", i, f)
		case positive && f <= 0:
			v.add(key, "value %d must be positive, got %v", i, f)
		}
	}
}
