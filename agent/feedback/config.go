package feedback

import (
	"fmt"
	"log/slog"
)

// Config is the feedback: section of the agent configuration. The store
// is off unless Enabled.
type Config struct {
	Enabled bool `mapstructure:"enabled" yaml:"enabled"`
	// MaxFlagged bounds the flagged frames kept (oldest evicted first).
	MaxFlagged int `mapstructure:"max_flagged" yaml:"max_flagged"`
	// Reservoir is the number of unflagged frames sampled; 0 for none.
	Reservoir int `mapstructure:"reservoir" yaml:"reservoir"`
	// MaxBytes bounds the store on disk; the reservoir may use a quarter.
	MaxBytes int64 `mapstructure:"max_bytes" yaml:"max_bytes"`
	// Evidence keeps the evidence JPEG of flagged frames (when the agent
	// makes one: mqtt.evidence).
	Evidence bool `mapstructure:"evidence" yaml:"evidence"`
	// Float16 stores logits and features in half precision, halving the
	// bytes per frame.
	Float16 bool `mapstructure:"float16" yaml:"float16"`
}

// DefaultConfig is the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{MaxFlagged: DefaultMaxFlagged, Reservoir: DefaultReservoir, MaxBytes: DefaultMaxBytes, Evidence: true}
}

// Validate checks the bounds.
func (c Config) Validate() error {
	switch {
	case c.MaxFlagged < 1 || c.MaxFlagged > 1_000_000:
		return fmt.Errorf("feedback: max_flagged %d must be between 1 and 1000000", c.MaxFlagged)
	case c.Reservoir < 0 || c.Reservoir > 100_000:
		return fmt.Errorf("feedback: reservoir %d must be between 0 and 100000", c.Reservoir)
	case c.MaxBytes < 1<<20:
		return fmt.Errorf("feedback: max_bytes %d must be at least 1 MiB", c.MaxBytes)
	}
	return nil
}

// Options turns the configuration into Store options for the store in
// stateDir.
func (c Config) Options(stateDir string, log *slog.Logger) (Options, error) {
	if err := c.Validate(); err != nil {
		return Options{}, err
	}
	o := Options{Dir: Dir(stateDir), MaxFlagged: c.MaxFlagged, MaxBytes: c.MaxBytes, Reservoir: c.Reservoir, Evidence: c.Evidence, Log: log}
	if c.Reservoir == 0 {
		o.Reservoir = -1
	}
	if c.Float16 {
		o.Precision = Float16
	}
	return o, nil
}
