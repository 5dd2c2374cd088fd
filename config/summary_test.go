package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestSummaryListsChangedKeysRedacted(t *testing.T) {
	c := Default()
	if got := c.Summary(); len(got) != 0 {
		t.Errorf("summary of the defaults = %v, want nothing", got)
	}
	c.MQTT.Broker = "tcp://user:hunter2@broker:1883"
	c.MQTT.Password = "s3cret"
	c.Source.FPS = 5
	var keys []string
	var text strings.Builder
	for _, a := range c.Summary() {
		keys = append(keys, a.Key)
		fmt.Fprintf(&text, "%s=%v ", a.Key, a.Value)
	}
	if want := []string{"source.fps", "mqtt.broker", "mqtt.password"}; fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Errorf("summary keys = %v, want %v", keys, want)
	}
	if s := text.String(); strings.Contains(s, "hunter2") || strings.Contains(s, "s3cret") {
		t.Errorf("summary leaks a secret: %s", s)
	}
}
