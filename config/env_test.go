package config

import (
	"reflect"
	"testing"
)

func TestUnknownEnv(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin",
		"OOD_AGENT_MQTT_BROKER=tcp://b:1883",   // a key
		"OOD_AGENT_MQTT_BROKR=tcp://b:1883",    // a typo
		"OOD_AGENT_DECISION_TRESHOLD=-7",       // a typo
		"OOD_AGENT_NOTHING_LIKE_ANY_KEY=1",     // no suggestion
		"OOD_AGENT_HEALTH_TIMEOUT=30",          // install.sh's
		"OOD_AGENT_TEST_EMULATOR=qemu-aarch64", // the test harness's
		"OOD_AGENTX=1",                         // another prefix
		"OOD_AGENT_HTTP_LISTEN=",               // a key, empty
	}
	want := []string{
		"environment variable OOD_AGENT_DECISION_TRESHOLD is not a configuration key and is ignored (did you mean OOD_AGENT_DECISION_THRESHOLD?)",
		"environment variable OOD_AGENT_MQTT_BROKR is not a configuration key and is ignored (did you mean OOD_AGENT_MQTT_BROKER?)",
		"environment variable OOD_AGENT_NOTHING_LIKE_ANY_KEY is not a configuration key and is ignored",
	}
	if got := UnknownEnv(environ); !reflect.DeepEqual(got, want) {
		t.Errorf("UnknownEnv =\n%q\nwant\n%q", got, want)
	}
	if got := UnknownEnv(nil); got != nil {
		t.Errorf("UnknownEnv(nil) = %q", got)
	}
}
