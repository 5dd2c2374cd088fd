package deliver

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/backoff"
	"github.com/ood-agent/ood-agent/agent/internal/logtest"
	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/agent/outbox"
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
)

func openOutbox(tb testing.TB, max int) *outbox.Outbox {
	tb.Helper()
	ob, err := outbox.Open(filepath.Join(tb.TempDir(), "outbox.db"), outbox.Options{MaxMessages: max})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ob.Close() })
	return ob
}

func msg(i int) outbox.Message {
	return outbox.Message{ID: fmt.Sprint(i), Topic: "ood/test/alert", Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)), QoS: 1}
}

// TestWriterBackpressure fills an outbox that nobody drains: with
// backpressure the writer holds the producer back at the outbox's capacity
// and drops nothing; acknowledging makes room for the rest.
func TestWriterBackpressure(t *testing.T) {
	ob := openOutbox(t, 5)
	w := NewWriter(ob, WriterOptions{Backpressure: true})
	ctx := context.Background()
	go w.Run(ctx)
	var handled atomic.Int32
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := range 20 {
			w.Put([]outbox.Message{msg(i)}, func() { handled.Add(1) })
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for ob.Len() < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // room for a wrong extra commit
	if n := ob.Len(); n != 5 {
		t.Fatalf("outbox holds %d messages, want its capacity 5", n)
	}
	if n := handled.Load(); n != 5 {
		t.Fatalf("%d inputs recorded as handled with 5 messages on disk", n)
	}
	var got []string
	for len(got) < 20 {
		entries, err := ob.Peek(1)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		got = append(got, entries[0].Message.ID)
		ob.Ack(entries[0].Seq)
	}
	<-produced
	w.Close()
	for i, id := range got {
		if id != fmt.Sprint(i) {
			t.Fatalf("message %d is %s: order lost", i, id)
		}
	}
	if st := ob.Stats(); st.Dropped != 0 {
		t.Errorf("outbox dropped %d messages under backpressure", st.Dropped)
	}
	if n := handled.Load(); n != 20 {
		t.Errorf("%d of 20 inputs recorded as handled", n)
	}
}

// TestWriterAbandonsAtShutdown: a full outbox at shutdown does not hang the
// writer, and it drops no queued alert to make room: messages tied to an
// input are left for the next start (their done functions do not run).
func TestWriterAbandonsAtShutdown(t *testing.T) {
	ob := openOutbox(t, 1)
	w := NewWriter(ob, WriterOptions{Backpressure: true})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	var handled atomic.Int32
	w.Put([]outbox.Message{msg(0)}, func() { handled.Add(1) })
	w.Put([]outbox.Message{msg(1)}, func() { handled.Add(1) })
	w.Put([]outbox.Message{msg(2)}, nil)
	cancel()
	w.Close()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if n := handled.Load(); n != 1 {
		t.Errorf("%d inputs recorded as handled, want only the one on disk", n)
	}
	entries, _ := ob.Peek(10)
	if len(entries) != 1 || entries[0].Message.ID != "0" || ob.Stats().Dropped != 0 {
		t.Errorf("outbox after shutdown holds %v (dropped %d), want the first alert only", entries, ob.Stats().Dropped)
	}
}

func startClient(t *testing.T, url string, backoffMax time.Duration) *mqtt.Client {
	t.Helper()
	c, err := mqtt.New(mqtt.Options{Broker: url, ClientID: "sender-" + strings.ReplaceAll(t.Name(), "/", "-"),
		KeepAlive: 2 * time.Second, ConnectTimeout: time.Second, BackoffInitial: 50 * time.Millisecond, BackoffMax: backoffMax})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// TestSenderDrainsSoonAfterBrokerReturns stops the broker with messages
// queued and restarts it: the sender, woken by the reconnect rather than
// its own retry timer, empties the outbox within mqtt.backoff_max (the
// client's longest reconnect delay) plus a second.
func TestSenderDrainsSoonAfterBrokerReturns(t *testing.T) {
	broker := mosquittotest.Start(t)
	const backoffMax = 2 * time.Second
	client := startClient(t, broker.URL(), backoffMax)
	ob := openOutbox(t, 1000)
	log, logs := logtest.New()
	// The sender's own retry delay is long on purpose: only the wake-up
	// by the reconnect can meet the bound.
	s := NewSender(ob, client, SenderOptions{Backoff: backoff.Backoff{Initial: 30 * time.Second, Max: 30 * time.Second}, Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)

	ob.Put(msg(0))
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := ob.WaitEmpty(wctx); err != nil {
		t.Fatalf("first message not delivered: %v\n%s", err, logs)
	}
	broker.Stop()
	for i := 1; i <= 50; i++ {
		ob.Put(msg(i))
	}
	// Let the client notice and back off to its maximum.
	time.Sleep(3 * backoffMax)
	if ob.Len() == 0 {
		t.Fatal("outbox drained with the broker down")
	}
	broker.Restart()
	restarted := time.Now()
	wctx, wcancel = context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := ob.WaitEmpty(wctx); err != nil {
		t.Fatalf("outbox not drained after the restart: %v\n%s", err, logs)
	}
	delay := time.Since(restarted)
	t.Logf("drained %d messages %v after the broker returned (backoff_max %v)", 50, delay, backoffMax)
	if delay > backoffMax+time.Second {
		t.Errorf("drain took %v after the broker returned, want ≤ backoff_max + 1s = %v\n%s", delay, backoffMax+time.Second, logs)
	}
}

// TestSenderWaitsForConnection: messages queued before the first connection
// are sent once it is up, without a failed publish in the log.
func TestSenderWaitsForConnection(t *testing.T) {
	broker := mosquittotest.Start(t)
	url := broker.URL()
	broker.Stop()
	ob := openOutbox(t, 100)
	for i := range 10 {
		ob.Put(msg(i))
	}
	client := startClient(t, url, 200*time.Millisecond)
	log, logs := logtest.New()
	var sent atomic.Int32
	s := NewSender(ob, client, SenderOptions{Backoff: backoff.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond},
		Logger: log, Sent: func() { sent.Add(1) }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Run(ctx) }()
	time.Sleep(500 * time.Millisecond)
	broker.Restart()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := ob.WaitEmpty(wctx); err != nil {
		t.Fatalf("not delivered: %v\n%s", err, logs)
	}
	cancel()
	wg.Wait()
	if n := sent.Load(); n != 10 {
		t.Errorf("Sent called %d times for 10 messages", n)
	}
	if strings.Contains(logs.String(), "publish failed") {
		t.Errorf("failed publish logged while waiting for the first connection:\n%s", logs)
	}
}

// BenchmarkOutboxToMosquitto measures messages per second from the durable
// outbox to a real Mosquitto (QoS 1, each removed only after its PUBACK).
func BenchmarkOutboxToMosquitto(b *testing.B) {
	broker := mosquittotest.Start(b)
	ob := openOutbox(b, 100000)
	client, err := mqtt.New(mqtt.Options{Broker: broker.URL(), ClientID: "bench", KeepAlive: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go client.Run(ctx)
	if err := client.WaitConnected(ctx); err != nil {
		b.Fatal(err)
	}
	go NewSender(ob, client, SenderOptions{}).Run(ctx)
	payload := bytes.Repeat([]byte("x"), 600) // about an alert's size
	const batch = 200
	msgs := make([]outbox.Message, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for k := range msgs {
			msgs[k] = outbox.Message{ID: fmt.Sprint(i, "-", k), Topic: "ood/bench/alert", Payload: payload, QoS: 1}
		}
		ob.PutAll(msgs)
		b.StartTimer()
		if err := ob.WaitEmpty(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "alerts/s")
}

// BenchmarkWriter measures alerts per second committed to the outbox by a
// producer that puts one alert at a time (the pipeline), batched by the
// writer into transactions.
func BenchmarkWriter(b *testing.B) {
	ob := openOutbox(b, 1<<20)
	w := NewWriter(ob, WriterOptions{})
	go w.Run(context.Background())
	payload := bytes.Repeat([]byte("x"), 600)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w.Put([]outbox.Message{{ID: fmt.Sprint(i), Topic: "ood/bench/alert", Payload: payload, QoS: 1}}, nil)
		i++
	}
	w.Close()
	if ob.Len() != i {
		b.Fatalf("%d of %d alerts committed", ob.Len(), i)
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "alerts/s")
}

// TestWriterPutAfterCloseDoesNotBlock: once closed, a Put (a late event_end
// on the way out) never waits for room in a full outbox.
func TestWriterPutAfterCloseDoesNotBlock(t *testing.T) {
	ob := openOutbox(t, 1)
	w := NewWriter(ob, WriterOptions{Backpressure: true})
	go w.Run(context.Background())
	w.Put([]outbox.Message{msg(0)}, nil)
	w.Close()
	done := make(chan struct{})
	go func() { w.Put([]outbox.Message{msg(1)}, nil); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Put after Close blocked on a full outbox")
	}
	if n, st := ob.Len(), ob.Stats(); n != 1 || st.Dropped != 0 {
		t.Errorf("outbox holds %d, dropped %d; want the first message kept", n, st.Dropped)
	}
}
