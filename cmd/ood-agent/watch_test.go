package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/demo"
	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
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
// at-least-once redelivery), and an adaptation message on a second topic
// filter: watch prints each id once, as a JSON line.
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
	cmd.SetArgs([]string{"watch", "--broker", broker.URL(), "--topic", "ood/+/alert", "--topic", "ood/+/adaptation"})
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
	if err := pub.Publish(ctx, "ood/cam/adaptation", []byte(`{"schema":"ood-agent/adaptation/v1","id":"ad1","stage":"committed"}`), 1, false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "\n") < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"id":"a1"`) || !strings.Contains(lines[1], `"id":"a2"`) || !strings.Contains(lines[2], `"id":"ad1"`) {
		t.Errorf("watch printed:\n%s\nwant a1, a2 and ad1, once each", out.String())
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

// TestWatchBrokerRestart: watch runs with its defaults; the broker (a real
// Mosquitto, with persistence) restarts; the agent re-sends what failed
// and goes on publishing while watch is still reconnecting. Watch's
// persistent session gets every alert: none is missing.
func TestWatchBrokerRestart(t *testing.T) {
	broker := mosquittotest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	cmd := newRootCommand()
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"watch", "--broker", broker.URL()})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	pub, err := mqtt.New(mqtt.Options{Broker: broker.URL(), ClientID: "agent", KeepAlive: 5 * time.Second,
		BackoffInitial: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go pub.Run(ctx)
	// send publishes like the agent's outbox: again until acknowledged.
	send := func(id string) {
		payload := []byte(`{"schema":"ood-agent/alert/v1","type":"alert","id":"` + id + `"}`)
		for {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			err := pub.Publish(pctx, "ood/cam/alert", payload, 1, false)
			pcancel()
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLines := func(n int) {
		deadline := time.Now().Add(30 * time.Second)
		for strings.Count(out.String(), "\n") < n {
			if time.Now().After(deadline) {
				t.Fatalf("watch printed %d lines, want %d:\n%s", strings.Count(out.String(), "\n"), n, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The first alert, again until watch has subscribed.
	for strings.Count(out.String(), "\n") == 0 {
		send("before")
		time.Sleep(100 * time.Millisecond)
	}
	broker.Restart()
	// Watch waits at least a second before reconnecting; the agent is
	// back sooner, so these reach the broker while watch is away.
	const n = 20
	for i := range n {
		send(fmt.Sprintf("after-%02d", i))
	}
	waitLines(1 + n)
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	got := out.String()
	for i := range n {
		if id := fmt.Sprintf(`"id":"after-%02d"`, i); strings.Count(got, id) != 1 {
			t.Errorf("%s printed %d times", id, strings.Count(got, id))
		}
	}
}
