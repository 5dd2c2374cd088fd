package hub_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/runner"
	"github.com/ood-agent/ood-agent/config"
	"github.com/ood-agent/ood-agent/hub/web"
	"github.com/ood-agent/ood-agent/model/zoo"
)

// startAgent runs a real agent (the runner, as `ood-agent run` builds it)
// that trusts the hub's key, on an empty frame directory.
func startAgent(t *testing.T, ctx context.Context, broker, prefix, id, trustedKey string) {
	t.Helper()
	file, calib, err := zoo.Open(zoo.Default)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DeviceID = id
	cfg.MQTT.Broker = broker
	cfg.MQTT.TopicPrefix = prefix
	cfg.MQTT.ClientID = "agent-" + id
	cfg.MQTT.BackoffInitial, cfg.MQTT.BackoffMax = 50*time.Millisecond, 300*time.Millisecond
	cfg.MQTT.StatsInterval = time.Hour
	cfg.Source.Dir.Path = t.TempDir()
	cfg.Source.Dir.Watch = true
	cfg.Outbox.Path = filepath.Join(t.TempDir(), "outbox.db")
	cfg.HTTP.Listen = ""
	cfg.Control.TrustedKeys = []string{trustedKey}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := runner.New(runner.Options{Config: cfg, Model: file, Calibration: calib, Version: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		if err := <-done; err != nil && ctx.Err() == nil {
			t.Errorf("agent %s: %v", id, err)
		}
	})
}

// TestRealAgentsThroughTheHub joins the two halves of fleet control: the
// hub signs what the operator sends through its API, two real agents
// verify and apply it, and their results (with the settings now in force)
// come back into the hub's audit log.
func TestRealAgentsThroughTheHub(t *testing.T) {
	const prefix = "ood"
	ctx, broker, signer, a := startFleet(t, prefix)
	agentCtx, stopAgents := context.WithCancel(ctx)
	startAgent(t, agentCtx, broker.URL(), prefix, "cam-a", signer.PublicKey())
	startAgent(t, agentCtx, broker.URL(), prefix, "cam-b", signer.PublicKey())
	t.Cleanup(stopAgents) // runs before the agents' cleanups wait for them
	waitDevices(t, a, 3)  // the probe and the two agents' retained status

	type settings struct {
		DeviceID  string  `json:"device_id"`
		Paused    bool    `json:"paused"`
		Threshold float64 `json:"threshold"`
	}
	read := func(r web.ResultJSON) settings {
		var s settings
		if err := json.Unmarshal(r.Settings, &s); err != nil {
			t.Fatalf("settings of %s: %v (%s)", r.Device, err, r.Settings)
		}
		return s
	}
	th := a.send("/api/v1/devices/cam-a/commands", `{"type":"set_threshold","args":{"threshold":-3.5},"ttl_s":60}`)
	if r := a.results(th, 1).Results[0]; r.Device != "cam-a" || !r.OK || read(r).Threshold != -3.5 {
		t.Errorf("set_threshold result = %+v", r)
	}
	pause := a.send("/api/v1/commands", `{"type":"pause"}`)
	got := a.results(pause, 2).Results
	for _, r := range got {
		s := read(r)
		if !r.OK || !s.Paused || s.DeviceID != r.Device {
			t.Errorf("pause result of %s = %+v, settings %+v", r.Device, r, s)
		}
		// Only cam-a was given the new threshold.
		if want := r.Device == "cam-a"; (s.Threshold == -3.5) != want {
			t.Errorf("%s threshold %v after pause", r.Device, s.Threshold)
		}
	}
}
