package homeassistant

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/ood-agent/ood-agent/agent/event"
)

func device(t *testing.T, id string) Device {
	t.Helper()
	topics, err := event.NewTopics("factory/ood", id)
	if err != nil {
		t.Fatal(err)
	}
	return Device{Topics: topics, Version: "v1.2.3", Model: event.Model{Name: "mobilenet.tflite", SHA256: strings.Repeat("a", 64)}}
}

func TestDiscovery(t *testing.T) {
	d := device(t, "cam.lobby 2")
	msgs, err := Discovery(d)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // topic → state topic
		"homeassistant/binary_sensor/ood_agent_cam_lobby_2/ood/config": "factory/ood/cam.lobby 2/alert",
		"homeassistant/sensor/ood_agent_cam_lobby_2/energy/config":     "factory/ood/cam.lobby 2/stats",
		"homeassistant/sensor/ood_agent_cam_lobby_2/ood_rate/config":   "factory/ood/cam.lobby 2/stats",
		"homeassistant/sensor/ood_agent_cam_lobby_2/fps/config":        "factory/ood/cam.lobby 2/stats",
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages, want %d", len(msgs), len(want))
	}
	ids := map[string]bool{}
	idPattern := regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	for _, m := range msgs {
		if !m.Retained {
			t.Errorf("%s not retained", m.Topic)
		}
		var c struct {
			Name         string
			UniqueID     string `json:"unique_id"`
			StateTopic   string `json:"state_topic"`
			Value        string `json:"value_template"`
			Availability []struct {
				Topic        string
				Available    string `json:"payload_available"`
				NotAvailable string `json:"payload_not_available"`
			}
			Device struct {
				Identifiers []string
				SWVersion   string `json:"sw_version"`
				Model       string
			}
		}
		if err := json.Unmarshal(m.Payload, &c); err != nil {
			t.Fatalf("%s: %v", m.Topic, err)
		}
		state, ok := want[m.Topic]
		if !ok {
			t.Errorf("unexpected topic %s", m.Topic)
			continue
		}
		if c.StateTopic != state || c.Name == "" || !strings.Contains(c.Value, "value_json") {
			t.Errorf("%s: %+v", m.Topic, c)
		}
		if len(c.Availability) != 1 || c.Availability[0].Topic != d.Topics.Status() || c.Availability[0].Available != "online" || c.Availability[0].NotAvailable != "offline" {
			t.Errorf("%s availability = %+v", m.Topic, c.Availability)
		}
		if !idPattern.MatchString(c.UniqueID) || ids[c.UniqueID] {
			t.Errorf("unique_id %q invalid or repeated", c.UniqueID)
		}
		ids[c.UniqueID] = true
		if c.Device.SWVersion != "v1.2.3" || c.Device.Model != "mobilenet.tflite" || len(c.Device.Identifiers) != 1 {
			t.Errorf("%s device = %+v", m.Topic, c.Device)
		}
	}
}

func TestRemoval(t *testing.T) {
	d := device(t, "cam-1")
	d.Prefix = "ha"
	add, err := Discovery(d)
	if err != nil {
		t.Fatal(err)
	}
	del, err := Removal(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(del) != len(add) {
		t.Fatalf("%d removals for %d entities", len(del), len(add))
	}
	for i := range del {
		if del[i].Topic != add[i].Topic || len(del[i].Payload) != 0 || !del[i].Retained || !strings.HasPrefix(del[i].Topic, "ha/") {
			t.Errorf("removal %d = %+v for %s", i, del[i], add[i].Topic)
		}
	}
}

func TestDiscoveryErrors(t *testing.T) {
	for _, d := range []Device{
		{Topics: event.Topics{Prefix: "ood", DeviceID: ""}},
		{Topics: event.Topics{Prefix: "ood", DeviceID: "cam"}, Prefix: "home/+"},
	} {
		if _, err := Discovery(d); err == nil {
			t.Errorf("Discovery(%+v) succeeded", d)
		}
	}
}
