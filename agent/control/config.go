package control

import (
	"fmt"
	"time"
)

// Config is the control: section of the agent configuration, except
// control.rollout, which is rollout.Config. Control is off unless
// TrustedKeys is set.
type Config struct {
	// TrustedKeys are the hub public keys ("ed25519:<base64>") whose
	// signatures the agent obeys. List two during a key rotation.
	TrustedKeys []string `mapstructure:"trusted_keys" yaml:"trusted_keys"`
	// Groups this device belongs to; commands on <prefix>/group/<g>/cmd
	// reach it.
	Groups []string `mapstructure:"groups" yaml:"groups"`
	// ClockSkew is the tolerated difference between the hub's and the
	// device's clocks.
	ClockSkew time.Duration `mapstructure:"clock_skew" yaml:"clock_skew"`
	// MaxTTL is the longest command lifetime accepted.
	MaxTTL time.Duration `mapstructure:"max_ttl" yaml:"max_ttl"`
}

// DefaultConfig is the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{ClockSkew: DefaultClockSkew, MaxTTL: DefaultMaxTTL}
}

// Enabled reports whether remote control is on.
func (c Config) Enabled() bool { return len(c.TrustedKeys) > 0 }

// Validate checks the keys and limits.
func (c Config) Validate() error {
	if _, err := ParseKeyRing(c.TrustedKeys); err != nil {
		return fmt.Errorf("control: %w", err)
	}
	for i, g := range c.Groups {
		if err := checkName(g); err != nil {
			return fmt.Errorf("control: groups[%d]: %w", i, err)
		}
	}
	if c.ClockSkew < 0 || c.ClockSkew > time.Hour {
		return fmt.Errorf("control: clock_skew %v must be between 0 and 1h", c.ClockSkew)
	}
	if c.MaxTTL < 0 || c.MaxTTL > 7*24*time.Hour {
		return fmt.Errorf("control: max_ttl %v must be between 0 and 168h", c.MaxTTL)
	}
	return nil
}

// VerifierOptions turns the configuration into options for NewVerifier.
func (c Config) VerifierOptions(device, stateDir string) (VerifierOptions, error) {
	if err := c.Validate(); err != nil {
		return VerifierOptions{}, err
	}
	ring, _ := ParseKeyRing(c.TrustedKeys)
	return VerifierOptions{Keys: ring, Device: device, Groups: c.Groups, StateDir: stateDir, ClockSkew: c.ClockSkew, MaxTTL: c.MaxTTL}, nil
}
