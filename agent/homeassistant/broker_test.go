package homeassistant_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/homeassistant"
	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
)

// retained subscribes a fresh client to filter and returns what the
// broker holds retained there after a moment.
func retained(t *testing.T, broker string, filter string) map[string][]byte {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := mqtt.New(mqtt.Options{Broker: broker, ClientID: "ha-" + time.Now().Format("150405.000000"), KeepAlive: 5 * time.Second, CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string][]byte{}
	if err := c.Subscribe(ctx, filter, 1, func(topic string, payload []byte) {
		mu.Lock()
		got[topic] = payload
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	go c.Run(ctx)
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	return got
}

// TestBroker publishes the discovery messages to a real Mosquitto as the
// agent would: Home Assistant, subscribing later, finds every entity
// retained; after the removal messages, none is left.
func TestBroker(t *testing.T) {
	broker := mosquittotest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := mqtt.New(mqtt.Options{Broker: broker.URL(), ClientID: "agent", KeepAlive: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	go c.Run(ctx)
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	topics, _ := event.NewTopics("ood", "cam-1")
	d := homeassistant.Device{Topics: topics, Version: "v1", Model: event.Model{Name: "m.tflite"}}
	publish := func(msgs []homeassistant.Message) {
		for _, m := range msgs {
			if err := c.Publish(ctx, m.Topic, m.Payload, 1, m.Retained); err != nil {
				t.Fatal(err)
			}
		}
	}
	add, err := homeassistant.Discovery(d)
	if err != nil {
		t.Fatal(err)
	}
	publish(add)
	got := retained(t, broker.URL(), "homeassistant/#")
	if len(got) != len(add) {
		t.Fatalf("broker holds %d discovery messages, want %d: %v", len(got), len(add), got)
	}
	for _, m := range add {
		if string(got[m.Topic]) != string(m.Payload) {
			t.Errorf("%s: retained %s", m.Topic, got[m.Topic])
		}
	}
	del, err := homeassistant.Removal(d)
	if err != nil {
		t.Fatal(err)
	}
	publish(del)
	if got := retained(t, broker.URL(), "homeassistant/#"); len(got) != 0 {
		t.Errorf("after removal the broker still holds %v", got)
	}
}
