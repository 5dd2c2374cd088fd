package rollout

import (
	"fmt"
	"net/url"
)

// Config is the control.rollout section of the agent configuration.
type Config struct {
	// HubURL is the base for relative artifact URLs in manifests, such as
	// "https://hub.example:8443/".
	HubURL string `mapstructure:"hub_url" yaml:"hub_url"`
	// CAFile is a PEM bundle to check the hub's certificate; "" uses the
	// system roots.
	CAFile string `mapstructure:"ca_file" yaml:"ca_file"`
	// AllowHTTP permits plain-HTTP downloads. The signed hashes still
	// protect integrity; only the model's confidentiality is lost.
	AllowHTTP bool `mapstructure:"allow_http" yaml:"allow_http"`
	// SelfTestTolerance is how far below the calibration's achieved ID
	// acceptance the self-test may be (0.15 = 15 points).
	SelfTestTolerance float64 `mapstructure:"self_test_tolerance" yaml:"self_test_tolerance"`
	// SelfTestFrames is how many recent in-distribution frames the agent
	// keeps for the self-test.
	SelfTestFrames int `mapstructure:"self_test_frames" yaml:"self_test_frames"`
	// WatchFrames is how many frames after the switch decide between
	// commit and rollback.
	WatchFrames int `mapstructure:"watch_frames" yaml:"watch_frames"`
	// MaxOODRate is the largest out-of-distribution rate over the watched
	// frames that still commits the new model.
	MaxOODRate float64 `mapstructure:"max_ood_rate" yaml:"max_ood_rate"`
}

// DefaultConfig has every default filled in.
func DefaultConfig() Config {
	return Config{SelfTestTolerance: 0.15, SelfTestFrames: 32, WatchFrames: 200, MaxOODRate: 0.5}
}

// Validate checks the ranges.
func (c Config) Validate() error {
	if c.HubURL != "" {
		u, err := url.Parse(c.HubURL)
		if err != nil || !u.IsAbs() || (u.Scheme != "https" && u.Scheme != "http") {
			return fmt.Errorf("control.rollout.hub_url %q: want an absolute http(s) URL", c.HubURL)
		}
	}
	switch {
	case !(c.SelfTestTolerance >= 0 && c.SelfTestTolerance <= 1):
		return fmt.Errorf("control.rollout.self_test_tolerance %v: want 0 to 1", c.SelfTestTolerance)
	case c.SelfTestFrames < 0:
		return fmt.Errorf("control.rollout.self_test_frames %d: want 0 or more", c.SelfTestFrames)
	case c.WatchFrames < 1:
		return fmt.Errorf("control.rollout.watch_frames %d: want at least 1", c.WatchFrames)
	case !(c.MaxOODRate > 0 && c.MaxOODRate <= 1):
		return fmt.Errorf("control.rollout.max_ood_rate %v: want above 0, at most 1", c.MaxOODRate)
	}
	return nil
}
