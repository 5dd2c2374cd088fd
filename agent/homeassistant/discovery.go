package homeassistant

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ood-agent/ood-agent/agent/event"
)

// DefaultPrefix is Home Assistant's default discovery prefix.
const DefaultPrefix = "homeassistant"

// Message is one discovery message to publish at QoS 1.
type Message struct {
	Topic    string
	Payload  []byte // empty in a removal
	Retained bool
}

// Device describes the agent to Home Assistant.
type Device struct {
	// Prefix is the discovery prefix; "" means DefaultPrefix.
	Prefix string
	// Topics are the agent's topics (its prefix and device id).
	Topics event.Topics
	// Version is the agent's version, shown as the device's software.
	Version string
	// Model is the model in use.
	Model event.Model
}

// entity is one Home Assistant entity of the agent.
type entity struct {
	component string // binary_sensor or sensor
	object    string // object id, unique per device
	config    map[string]any
}

// objectID keeps what Home Assistant accepts in node and object ids.
func objectID(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

func (d Device) entities() ([]entity, string, error) {
	if err := d.Topics.Validate(); err != nil {
		return nil, "", err
	}
	prefix := d.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := event.ValidatePrefix(prefix); err != nil {
		return nil, "", fmt.Errorf("homeassistant: discovery prefix: %w", err)
	}
	node := "ood_agent_" + objectID(d.Topics.DeviceID)
	device := map[string]any{
		"identifiers":  []string{node},
		"name":         "ood-agent " + d.Topics.DeviceID,
		"manufacturer": "ood-agent",
		"model":        d.Model.Name,
		"sw_version":   d.Version,
	}
	availability := []map[string]any{{
		"topic":                 d.Topics.Status(),
		"value_template":        "{{ value_json.state }}",
		"payload_available":     string(event.StateOnline),
		"payload_not_available": string(event.StateOffline),
	}}
	common := func(object, name string, extra map[string]any) map[string]any {
		c := map[string]any{
			"name":         name,
			"unique_id":    node + "_" + object,
			"object_id":    node + "_" + object,
			"device":       device,
			"availability": availability,
			"qos":          event.DefaultQoS,
		}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	stats := d.Topics.Stats()
	return []entity{
		{"binary_sensor", "ood", common("ood", "Out of distribution", map[string]any{
			"state_topic": d.Topics.Alert(),
			// An alert or an open event is ON, an event_end OFF; per-frame
			// alerts have no end, so off_delay turns the sensor off.
			"value_template":        "{{ 'OFF' if value_json.type == 'event_end' else 'ON' }}",
			"off_delay":             60,
			"device_class":          "problem",
			"json_attributes_topic": d.Topics.Alert(),
		})},
		{"sensor", "energy", common("energy", "Energy (median)", map[string]any{
			"state_topic":    stats,
			"value_template": "{{ value_json.energy.p50 | round(3) if value_json.energy else None }}",
			"state_class":    "measurement",
			"icon":           "mdi:chart-bell-curve",
		})},
		{"sensor", "ood_rate", common("ood_rate", "OOD rate", map[string]any{
			"state_topic":         stats,
			"value_template":      "{{ (value_json.ood_rate * 100) | round(1) }}",
			"unit_of_measurement": "%",
			"state_class":         "measurement",
			"icon":                "mdi:alert-circle-outline",
		})},
		{"sensor", "fps", common("fps", "Frame rate", map[string]any{
			"state_topic":         stats,
			"value_template":      "{{ value_json.fps | round(2) }}",
			"unit_of_measurement": "fps",
			"state_class":         "measurement",
			"icon":                "mdi:camera-timer",
		})},
	}, prefix + "/%s/" + node + "/%s/config", nil
}

// Discovery returns the retained discovery messages of d's entities.
func Discovery(d Device) ([]Message, error) {
	ents, topic, err := d.entities()
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(ents))
	for _, e := range ents {
		payload, err := json.Marshal(e.config)
		if err != nil {
			return nil, fmt.Errorf("homeassistant: %s: %w", e.object, err)
		}
		out = append(out, Message{Topic: fmt.Sprintf(topic, e.component, e.object), Payload: payload, Retained: true})
	}
	return out, nil
}

// Removal returns the messages that delete d's entities from Home
// Assistant: an empty retained payload on each discovery topic, which
// also clears the retained configuration from the broker.
func Removal(d Device) ([]Message, error) {
	msgs, err := Discovery(d)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, errors.New("homeassistant: no entities")
	}
	for i := range msgs {
		msgs[i].Payload = nil
	}
	return msgs, nil
}
