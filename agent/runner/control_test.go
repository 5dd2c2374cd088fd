package runner

import (
	"reflect"
	"testing"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/rollout"
	"github.com/ood-agent/ood-agent/config"
)

// TestControlDefaults keeps the defaults that config mirrors equal to the
// control and rollout packages' own.
func TestControlDefaults(t *testing.T) {
	c, r := controlConfig(config.Default().Control)
	if want := control.DefaultConfig(); !reflect.DeepEqual(c, want) {
		t.Errorf("control defaults in config: %+v, control.DefaultConfig: %+v", c, want)
	}
	if want := rollout.DefaultConfig(); r != want {
		t.Errorf("control.rollout defaults in config: %+v, rollout.DefaultConfig: %+v", r, want)
	}
}
