package rollout

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ood-agent/ood-agent/agent/control"
)

// TestExampleConfig keeps the control section of config/agent.example.yaml
// (commented out until the config package reads it) true to the defaults
// of control.Config and Config.
func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("../../config/agent.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n# control:\n")
	if !ok {
		t.Fatal("agent.example.yaml has no control section")
	}
	var uncommented strings.Builder
	uncommented.WriteString("control:\n")
	for line := range strings.SplitSeq(section, "\n") {
		rest, ok := strings.CutPrefix(line, "# ")
		if !ok {
			break
		}
		uncommented.WriteString(rest + "\n")
	}
	var doc struct {
		Control struct {
			control.Config `yaml:",inline"`
			Rollout        Config `yaml:"rollout"`
		} `yaml:"control"`
	}
	dec := yaml.NewDecoder(strings.NewReader(uncommented.String()))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("control section: %v\n%s", err, uncommented.String())
	}
	wantControl := control.DefaultConfig()
	wantControl.TrustedKeys, wantControl.Groups = []string{}, []string{}
	if !reflect.DeepEqual(doc.Control.Config, wantControl) {
		t.Errorf("example control: %+v, defaults %+v", doc.Control.Config, wantControl)
	}
	if doc.Control.Rollout != DefaultConfig() {
		t.Errorf("example control.rollout: %+v, defaults %+v", doc.Control.Rollout, DefaultConfig())
	}
}
