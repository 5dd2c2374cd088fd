// Package agentsim makes the messages an agent publishes — alerts, stats,
// status, adaptations — with the agent's own types (agent/event), and publishes them
// through the agent's MQTT client (agent/mqtt), for the hub's tests,
// benchmarks and fixtures.
package agentsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"time"

	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/mqtt"
)

// Model is the model every simulated device reports.
var Model = event.Model{Name: "fashion_mnist_cnn.tflite", SHA256: "5b2c9a4ef1d0c6a7e3b8f9d2c1a0e4b7d6c5f8a9b0c1d2e3f4a5b6c7d8e9f0a1"}

// Device makes one device's messages.
type Device struct {
	Topics event.Topics
	ids    *event.IDGenerator
	seq    uint64
}

// NewDevice returns a Device under prefix.
func NewDevice(prefix, id string) (*Device, error) {
	t, err := event.NewTopics(prefix, id)
	if err != nil {
		return nil, err
	}
	return &Device{Topics: t, ids: event.NewIDGenerator(nil)}, nil
}

// Alert returns a per-frame alert at t.
func (d *Device) Alert(t time.Time) event.Message {
	d.seq++
	energy := -3 - float64(d.seq%5)
	return event.Message{
		Type: event.TypeAlert, ID: d.ids.NewAt(t), DeviceID: d.Topics.DeviceID, Time: t,
		Origin: "/var/lib/ood-agent/inbox/frame.png", FrameSeq: d.seq, Model: Model,
		Verdict: event.Verdict{Label: int(d.seq % 10),
			LabelName:  []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}[d.seq%10],
			Confidence: 0.4, Energy: energy, Score: -energy, Threshold: 7.95, Method: "energy"},
	}
}

// Stats returns a stats interval of one minute ending at t with the given
// frame counts and median energy.
func (d *Device) Stats(t time.Time, frames, ood uint64, medianEnergy float64) event.Stats {
	s := event.NewStats(d.ids, d.Topics.DeviceID, t, time.Minute)
	s.Frames, s.OODFrames, s.Alerts = frames, ood, ood
	s.Inference = &event.LatencyQuantiles{P50: 4.1, P90: 5.2, P99: 7.9}
	s.Energy = &event.EnergyQuantiles{P05: medianEnergy - 2, P50: medianEnergy, P95: medianEnergy + 3}
	p05, p50, p95 := -12.4, -10.1, -8.3
	s.Calibration = event.CalibrationInfo{Method: "energy", Threshold: 7.95, EnergyP05: &p05, EnergyP50: &p50, EnergyP95: &p95}
	return s
}

// Status returns the device's status.
func (d *Device) Status(state event.State, t time.Time) event.Status {
	return event.NewStatus(state, d.Topics.DeviceID, "v0.0.0-test", Model, t)
}

// Adaptation returns a stage, at t, of an adaptation to version; stages
// up to switching carry a training that kept the whole change.
func (d *Device) Adaptation(t time.Time, version string, stage event.AdaptStage) event.Adaptation {
	a := event.Adaptation{ID: d.ids.NewAt(t), DeviceID: d.Topics.DeviceID, Time: t, Version: version, Stage: stage, Model: Model,
		Training: &event.AdaptTraining{Labels: 24, IDSamples: 180, ConfirmedOOD: 12, AccuracyBefore: 0.911, AccuracyAfter: 0.906, Folds: 4, Step: 1}}
	switch stage {
	case event.AdaptRefused:
		a.Message = "adapt: cross-validated accuracy dropped: 91.10% → 86.20%"
	case event.AdaptRolledBack:
		a.Message = "out-of-distribution rate too high: 30 of the first 50 frames, the bound is 25% of 200"
	case event.AdaptCommitted:
		a.Message = "2 of the first 200 frames out of distribution"
	}
	return a
}

// Publish marshals v and publishes it at QoS 1, returning once the broker
// has acknowledged it.
func Publish(ctx context.Context, c *mqtt.Client, topic string, v any, retained bool) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("marshal %T: %w", v, err)
	}
	return c.Publish(ctx, topic, data, event.DefaultQoS, retained)
}

// Connect starts an agent/mqtt client for a simulated device and waits
// until it is connected; the client runs until ctx ends.
func Connect(ctx context.Context, broker, clientID string) (*mqtt.Client, error) {
	c, err := mqtt.New(mqtt.Options{Broker: broker, ClientID: clientID, KeepAlive: 10 * time.Second, BackoffInitial: 100 * time.Millisecond, BackoffMax: time.Second})
	if err != nil {
		return nil, err
	}
	go c.Run(ctx)
	if err := c.WaitConnected(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// JPEG is a real 64×64 JPEG (a gradient with a bright square, standing
// in for an unusual frame) to attach as evidence.
var JPEG = func() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			c := color.RGBA{uint8(4 * x), uint8(4 * y), 96, 255}
			if x > 20 && x < 44 && y > 20 && y < 44 {
				c = color.RGBA{250, 220, 40, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		panic(err) // encoding to memory does not fail
	}
	return buf.Bytes()
}()
