package config

import (
	"reflect"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	th := 1.5
	tests := []struct {
		name           string
		edit           func(*Config)
		wantReloadable bool
		wantChanged    []string
	}{
		{"nothing", func(*Config) {}, true, nil},
		{"log level", func(c *Config) { c.Log.Level = LogDebug }, true, []string{"log.level"}},
		{"decision", func(c *Config) {
			c.Decision.Threshold = &th
			c.Decision.Stream.Cooldown = time.Minute
		}, true, []string{"decision.threshold", "decision.stream.cooldown"}},
		{"broker", func(c *Config) { c.MQTT.Broker = "tcp://127.0.0.1:1884" }, false, []string{"mqtt.broker"}},
		{"mixed", func(c *Config) {
			c.Log.Level = LogWarn
			c.Log.Format = FormatJSON
			c.Model.Score = ScoreMSP
		}, false, []string{"log.level", "log.format", "model.score"}},
		{"empty list is unset", func(c *Config) { c.Preprocess.Mean = []float64{} }, true, nil},
		{"list", func(c *Config) { c.Preprocess.Std = []float64{0.5} }, false, []string{"preprocess.std"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, new := Default(), Default()
			tt.edit(new)
			r, changed := Diff(old, new)
			if r != tt.wantReloadable || !reflect.DeepEqual(changed, tt.wantChanged) {
				t.Errorf("Diff() = %v, %q, want %v, %q", r, changed, tt.wantReloadable, tt.wantChanged)
			}
		})
	}
}

func TestDiffSameThresholdValue(t *testing.T) {
	a, b := 1.0, 1.0
	old, new := Default(), Default()
	old.Decision.Threshold, new.Decision.Threshold = &a, &b
	if r, changed := Diff(old, new); !r || changed != nil {
		t.Errorf("Diff() with equal thresholds at different addresses = %v, %q, want true, nil", r, changed)
	}
}

func TestReloadableCopies(t *testing.T) {
	th := 1.0
	c := Default()
	c.Log.Level = LogDebug
	c.Decision.Threshold = &th
	r := c.Reloadable()
	if r.LogLevel != LogDebug || *r.Decision.Threshold != 1 || r.Decision.Stream != c.Decision.Stream {
		t.Fatalf("Reloadable() = %+v, want the log level and decision of the config", r)
	}
	*r.Decision.Threshold = 9
	if th != 1 {
		t.Errorf("changing Reloadable().Decision.Threshold changed the config's threshold to %v", th)
	}
}

func TestIsReloadable(t *testing.T) {
	for _, key := range Keys() {
		want := key == "log.level" || key[:min(len(key), 9)] == "decision."
		if got := IsReloadable(key); got != want {
			t.Errorf("IsReloadable(%q) = %v, want %v", key, got, want)
		}
	}
}
