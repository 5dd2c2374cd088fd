package runner

import (
	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/rollout"
	"github.com/ood-agent/ood-agent/config"
)

// controlConfig converts the configuration's control section, which
// mirrors them, to the control and rollout packages' own configurations.
func controlConfig(c config.Control) (control.Config, rollout.Config) {
	r := c.Rollout
	return control.Config{TrustedKeys: c.TrustedKeys, Groups: c.Groups, ClockSkew: c.ClockSkew, MaxTTL: c.MaxTTL},
		rollout.Config{HubURL: r.HubURL, CAFile: r.CAFile, AllowHTTP: r.AllowHTTP, SelfTestTolerance: r.SelfTestTolerance,
			SelfTestFrames: r.SelfTestFrames, WatchFrames: r.WatchFrames, MaxOODRate: r.MaxOODRate}
}
