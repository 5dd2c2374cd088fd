package feedback

import (
	"strings"
	"testing"
)

func TestConfig(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.MaxFlagged = 0 }, "max_flagged"},
		{func(c *Config) { c.Reservoir = -1 }, "reservoir"},
		{func(c *Config) { c.MaxBytes = 1000 }, "max_bytes"},
	} {
		cfg := DefaultConfig()
		c.edit(&cfg)
		if _, err := cfg.Options(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", cfg, err, c.want)
		}
	}
	cfg := DefaultConfig()
	cfg.Reservoir, cfg.Float16 = 0, true
	dir := t.TempDir()
	o, err := cfg.Options(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	if s.Draw().Keep() || s.opts.Precision != Float16 || s.opts.Dir != Dir(dir) {
		t.Errorf("reservoir 0 keeps frames, or options lost: %+v", s.opts)
	}
}
