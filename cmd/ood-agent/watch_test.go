package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/demo"
	"github.com/ood-agent/ood-agent/agent/mqtt"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWatchPrintsAlertsOnce publishes two alerts, one of them twice (an
// at-least-once redelivery): watch prints each id once, as a JSON line.
func TestWatchPrintsAlertsOnce(t *testing.T) {
	broker, err := demo.StartBroker(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	cmd := newRootCommand()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"watch", "--broker", broker.URL()})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	pub, err := mqtt.New(mqtt.Options{Broker: broker.URL(), ClientID: "pub", KeepAlive: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	go pub.Run(pctx)
	if err := pub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let watch subscribe
	for _, p := range []string{
		`{"schema":"ood-agent/alert/v1","type":"alert","id":"a1"}`,
		`{"schema":"ood-agent/alert/v1","type":"alert","id":"a1"}`,
		`{"schema":"ood-agent/alert/v1","type":"alert","id":"a2"}`,
	} {
		if err := pub.Publish(ctx, "ood/cam/alert", []byte(p), 1, false); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"id":"a1"`) || !strings.Contains(lines[1], `"id":"a2"`) {
		t.Errorf("watch printed:\n%s\nwant a1 then a2, once each", out.String())
	}
}

func TestRunMissingModel(t *testing.T) {
	flags := newRunCommand().Flags()
	flags.Set("model-path", "/nonexistent/model.tflite")
	err := runAgent(context.Background(), "", flags, nil, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "model.path") || !strings.Contains(err.Error(), "nonexistent") {
		t.Fatalf("runAgent with a missing model = %v, want an error naming model.path and the file", err)
	}
}
