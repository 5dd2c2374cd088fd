package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/internal/logtest"
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
)

// waitTimeout bounds every wait for something that should happen in a few
// milliseconds, leaving room for a slow CI machine.
const waitTimeout = 5 * time.Second

// startClient creates a client with fast test timings, fills in options
// left zero, runs it and closes it in t.Cleanup. It returns the client's
// log buffer too.
func startClient(t *testing.T, o Options) (*Client, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	if o.ClientID == "" {
		o.ClientID = strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = 5 * time.Second
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 2 * time.Second
	}
	if o.BackoffInitial == 0 {
		o.BackoffInitial = 20 * time.Millisecond
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = 200 * time.Millisecond
	}
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), waitTimeout)
		defer ccancel()
		c.Close(cctx)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after Close = %v, want nil", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("Run did not return after Close")
		}
		if t.Failed() {
			t.Logf("log of client %s:\n%s", o.ClientID, logs)
		}
	})
	return c, logs
}

func waitConnected(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatalf("WaitConnected() = %v, want nil", err)
	}
}

type message struct {
	topic, payload string
}

// collect subscribes to filter and returns the channel its messages go to.
func collect(t *testing.T, c *Client, filter string, qos byte) <-chan message {
	t.Helper()
	ch := make(chan message, 100)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err := c.Subscribe(ctx, filter, qos, func(topic string, payload []byte) {
		ch <- message{topic, string(payload)}
	})
	if err != nil {
		t.Fatalf("Subscribe(%q) = %v, want nil", filter, err)
	}
	return ch
}

// expect waits for the next message and checks it.
func expect(t *testing.T, ch <-chan message, want message) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("received %+v, want %+v", got, want)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("no message within %v, want %+v", waitTimeout, want)
	}
}

// expectPayload skips messages until one with payload arrives, for
// streams where duplicates are allowed.
func expectPayload(t *testing.T, ch <-chan message, payload string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case got := <-ch:
			if got.payload == payload {
				return
			}
		case <-deadline:
			t.Fatalf("no message %q within %v", payload, waitTimeout)
		}
	}
}

func expectNone(t *testing.T, ch <-chan message, d time.Duration) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("received %+v, want no message", got)
	case <-time.After(d):
	}
}

func publish(t *testing.T, c *Client, topic, payload string, qos byte, retained bool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return c.Publish(ctx, topic, []byte(payload), qos, retained)
}

func TestPublishSubscribeRoundTrip(t *testing.T) {
	b := mosquittotest.Start(t)
	sub, _ := startClient(t, Options{Broker: b.URL(), ClientID: "sub"})
	pub, _ := startClient(t, Options{Broker: b.URL(), ClientID: "pub"})
	waitConnected(t, sub)
	waitConnected(t, pub)
	msgs := collect(t, sub, "alerts/+/ood", 1)

	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprintf("QoS%d", qos), func(t *testing.T) {
			topic := fmt.Sprintf("alerts/cam%d/ood", qos)
			payload := fmt.Sprintf(`{"id":"m%d","score":0.97}`, qos)
			if err := publish(t, pub, topic, payload, qos, false); err != nil {
				t.Fatalf("Publish(%s, QoS %d) = %v, want nil", topic, qos, err)
			}
			expect(t, msgs, message{topic, payload})
		})
	}

	t.Run("invalid arguments", func(t *testing.T) {
		if err := publish(t, pub, "alerts/+/ood", "x", 1, false); err == nil {
			t.Error("Publish to a wildcard topic = nil, want error")
		}
		if err := publish(t, pub, "alerts/a", "x", 3, false); err == nil {
			t.Error("Publish with QoS 3 = nil, want error")
		}
		if err := sub.Subscribe(context.Background(), "a/#/b", 1, func(string, []byte) {}); err == nil {
			t.Error("Subscribe(a/#/b) = nil, want error")
		}
	})
}

func TestPublishNotConnected(t *testing.T) {
	o := validOptions()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(context.Background(), "a", nil, 1, false); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Publish before Run = %v, want ErrNotConnected", err)
	}
	if c.Connected() {
		t.Error("Connected() before Run = true")
	}
	if err := c.Close(context.Background()); err != nil {
		t.Errorf("Close() without Run = %v, want nil", err)
	}
	if err := c.Publish(context.Background(), "a", nil, 1, false); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if err := c.Run(context.Background()); err != nil {
		t.Errorf("Run after Close = %v, want nil", err)
	}
}

// TestBrokerRestart checks that Publish fails while the broker is down and
// that the backoff loop reconnects and renews subscriptions afterwards.
func TestBrokerRestart(t *testing.T) {
	b := mosquittotest.Start(t)
	pub, _ := startClient(t, Options{Broker: b.URL(), ClientID: "pub"})
	// A clean session makes the broker forget the subscription, so the
	// message after the restart only arrives if the client renewed it.
	ready := make(chan struct{}, 10)
	sub, _ := startClient(t, Options{
		Broker: b.URL(), ClientID: "sub", CleanSession: true,
		OnConnect: func(context.Context, *Client) error { ready <- struct{}{}; return nil },
	})
	waitConnected(t, pub)
	waitConnected(t, sub)
	msgs := collect(t, sub, "t/restart", 1)
	<-ready
	if err := publish(t, pub, "t/restart", "before", 1, false); err != nil {
		t.Fatalf("Publish before stop = %v", err)
	}
	expect(t, msgs, message{"t/restart", "before"})

	b.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	err := pub.Publish(ctx, "t/restart", []byte("during"), 1, false)
	cancel()
	if err == nil {
		t.Fatal("Publish while broker stopped = nil, want error")
	}
	if !errors.Is(err, ErrNotConnected) && !errors.Is(err, ErrConnectionLost) {
		t.Errorf("Publish while broker stopped = %v, want ErrNotConnected or ErrConnectionLost", err)
	}
	// Let the clients fail a few reconnects so the backoff grows.
	time.Sleep(300 * time.Millisecond)
	if pub.Connected() {
		t.Error("Connected() while broker stopped = true")
	}

	b.Restart()
	waitConnected(t, pub)
	select {
	case <-ready:
	case <-time.After(waitTimeout):
		t.Fatal("subscriber did not reconnect")
	}
	if err := publish(t, pub, "t/restart", "after", 1, false); err != nil {
		t.Fatalf("Publish after restart = %v, want nil", err)
	}
	expectPayload(t, msgs, "after")
}

// TestPersistentSession checks that QoS 1 messages published while a
// persistent-session subscriber is away, and across a broker restart, are
// delivered when it comes back, to a handler registered before Run.
func TestPersistentSession(t *testing.T) {
	b := mosquittotest.Start(t)
	pub, _ := startClient(t, Options{Broker: b.URL(), ClientID: "pub"})
	waitConnected(t, pub)

	first, _ := startClient(t, Options{Broker: b.URL(), ClientID: "central"})
	waitConnected(t, first)
	collect(t, first, "q/#", 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := first.Close(ctx); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	if err := publish(t, pub, "q/alert", "queued", 1, false); err != nil {
		t.Fatalf("Publish = %v", err)
	}
	b.Restart()

	o := Options{
		Broker: b.URL(), ClientID: "central", KeepAlive: 5 * time.Second, ConnectTimeout: 2 * time.Second,
		BackoffInitial: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	}
	second, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan message, 10)
	if err := second.Subscribe(ctx, "q/#", 1, func(topic string, payload []byte) {
		msgs <- message{topic, string(payload)}
	}); err != nil {
		t.Fatalf("Subscribe before Run = %v, want nil", err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- second.Run(rctx) }()
	defer func() {
		rcancel()
		<-done
	}()
	expect(t, msgs, message{"q/alert", "queued"})
}

func TestConnectWhenBrokerComesUp(t *testing.T) {
	b := mosquittotest.Start(t)
	b.Stop()
	c, _ := startClient(t, Options{Broker: b.URL()})

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := c.WaitConnected(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("WaitConnected() with broker down = %v, want deadline exceeded and the last error", err)
	}
	if err := publish(t, c, "t/boot", "x", 1, false); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Publish with broker down = %v, want ErrNotConnected", err)
	}

	b.Restart()
	waitConnected(t, c)
	if err := publish(t, c, "t/boot", "x", 1, false); err != nil {
		t.Errorf("Publish after broker came up = %v, want nil", err)
	}
}

// TestStatus checks the retained online status, the will on an abrupt
// disconnect, the online status after the reconnect, and the offline
// status on Close.
func TestStatus(t *testing.T) {
	b := mosquittotest.Start(t)
	proxy := mosquittotest.StartProxy(t, b.Addr())
	const topic = "agents/cam1/status"
	watcher, _ := startClient(t, Options{Broker: b.URL(), ClientID: "watcher"})
	waitConnected(t, watcher)

	connects := make(chan struct{}, 10)
	agent, _ := startClient(t, Options{
		Broker: proxy.URL(), ClientID: "cam1",
		Status: &Status{Topic: topic},
		// The keep-alive must outlast the test so the broker only learns
		// of the cut from the closed socket.
		KeepAlive: time.Minute,
		OnConnect: func(context.Context, *Client) error { connects <- struct{}{}; return nil },
	})
	waitConnected(t, agent)
	<-connects

	// A watcher subscribing later sees the retained "online", once: the
	// subscription renewal after the watcher's connect must not race
	// with this Subscribe into a second SUBSCRIBE.
	status := collect(t, watcher, topic, 1)
	expect(t, status, message{topic, "online"})
	expectNone(t, status, 100*time.Millisecond)

	if n := proxy.Cut(); n != 1 {
		t.Fatalf("proxy.Cut() = %d connections, want 1", n)
	}
	expect(t, status, message{topic, "offline"}) // the will
	expect(t, status, message{topic, "online"})  // republished after reconnect
	<-connects

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := agent.Close(ctx); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	expect(t, status, message{topic, "offline"})
	if agent.Connected() {
		t.Error("Connected() after Close = true")
	}

	// The last status stays retained.
	late, _ := startClient(t, Options{Broker: b.URL(), ClientID: "late"})
	waitConnected(t, late)
	expect(t, collect(t, late, topic, 1), message{topic, "offline"})
}

func TestRunContextCancelPublishesOffline(t *testing.T) {
	b := mosquittotest.Start(t)
	const topic = "agents/cam2/status"
	c, err := New(Options{
		Broker: b.URL(), ClientID: "cam2", KeepAlive: 5 * time.Second,
		ConnectTimeout: 2 * time.Second, Status: &Status{Topic: topic, Online: []byte("up"), Offline: []byte("down")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitConnected(t, c)

	watcher, _ := startClient(t, Options{Broker: b.URL(), ClientID: "watcher"})
	waitConnected(t, watcher)
	status := collect(t, watcher, topic, 1)
	expect(t, status, message{topic, "up"})

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after cancel")
	}
	expect(t, status, message{topic, "down"})
	if err := c.Publish(context.Background(), "x", nil, 1, false); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Run returned = %v, want ErrClosed", err)
	}
}

// TestPublishLostBeforeAck drops the PUBACK on the floor and then cuts the
// connection: Publish must fail although Paho later completes the token
// when it resends the message on the resumed session, and the message
// must still arrive (at least once).
func TestPublishLostBeforeAck(t *testing.T) {
	b := mosquittotest.Start(t)
	proxy := mosquittotest.StartProxy(t, b.Addr())
	watcher, _ := startClient(t, Options{Broker: b.URL(), ClientID: "watcher"})
	waitConnected(t, watcher)
	msgs := collect(t, watcher, "t/lost/#", 1)
	c, _ := startClient(t, Options{Broker: proxy.URL(), ClientID: "cam", KeepAlive: time.Minute})
	waitConnected(t, c)

	t.Run("connection lost", func(t *testing.T) {
		proxy.SetBlackhole(true)
		errc := make(chan error, 1)
		go func() { errc <- publish(t, c, "t/lost/a", "a", 1, false) }()
		time.Sleep(100 * time.Millisecond)
		proxy.Cut()
		proxy.SetBlackhole(false)
		select {
		case err := <-errc:
			if !errors.Is(err, ErrConnectionLost) {
				t.Errorf("Publish with connection cut before PUBACK = %v, want ErrConnectionLost", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("Publish did not return after the connection was cut")
		}
		waitConnected(t, c)
		expectPayload(t, msgs, "a")
	})

	t.Run("deadline", func(t *testing.T) {
		proxy.SetBlackhole(true)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := c.Publish(ctx, "t/lost/b", []byte("b"), 1, false)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Publish without PUBACK = %v, want context.DeadlineExceeded", err)
		}
		proxy.Cut()
		proxy.SetBlackhole(false)
		waitConnected(t, c)
		expectPayload(t, msgs, "b")
	})
}

func TestMutualTLS(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.WithTLS())
	files := b.TLS()
	other, err := mosquittotest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tls     TLSOptions
		wantErr error  // nil: must connect
		wantMsg string // part of the error message
	}{
		{"client certificate", TLSOptions{CAFile: files.CAFile, CertFile: files.ClientCertFile, KeyFile: files.ClientKeyFile}, nil, ""},
		{"no client certificate", TLSOptions{CAFile: files.CAFile}, ErrClientCertRequired, "client certificate"},
		{"untrusted broker", TLSOptions{CAFile: other.CAFile, CertFile: files.ClientCertFile, KeyFile: files.ClientKeyFile}, context.DeadlineExceeded, "certificate signed by unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := startClient(t, Options{Broker: b.URL(), TLS: tt.tls})
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			err := c.WaitConnected(ctx)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("WaitConnected() = %v, want nil", err)
				}
				if err := publish(t, c, "t/tls", "x", 1, false); err != nil {
					t.Errorf("Publish over TLS = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("WaitConnected() = %v, want %v containing %q", err, tt.wantErr, tt.wantMsg)
			}
			t.Logf("WaitConnected() = %v", err)
		})
	}
}

func TestUsernamePassword(t *testing.T) {
	const password = "c0rrect-h0rse"
	b := mosquittotest.Start(t, mosquittotest.WithUser("agent", password))
	tests := []struct {
		name, user, pass string
		wantErr          error
	}{
		{"valid", "agent", password, nil},
		{"wrong password", "agent", "wr0ng-passw0rd", ErrNotAuthorized},
		{"unknown user", "intruder", password, ErrNotAuthorized},
		{"anonymous", "", "", ErrNotAuthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, logs := startClient(t, Options{Broker: b.URL(), Username: tt.user, Password: tt.pass})
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			err := c.WaitConnected(ctx)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("WaitConnected() = %v, want nil", err)
				}
				if err := publish(t, c, "t/auth", "x", 1, false); err != nil {
					t.Errorf("Publish = %v, want nil", err)
				}
			} else if !errors.Is(err, tt.wantErr) {
				t.Errorf("WaitConnected() = %v, want %v", err, tt.wantErr)
			}
			t.Logf("WaitConnected() = %v", err)
			if tt.pass == "" {
				return
			}
			if err != nil && strings.Contains(err.Error(), tt.pass) {
				t.Errorf("error %q contains the password", err)
			}
			cctx, ccancel := context.WithTimeout(context.Background(), waitTimeout)
			defer ccancel()
			c.Close(cctx)
			if l := logs.String(); strings.Contains(l, tt.pass) {
				t.Errorf("log contains the password:\n%s", l)
			}
		})
	}
}

func BenchmarkPublishQoS1(b *testing.B) {
	broker := mosquittotest.Start(b)
	c, err := New(Options{Broker: broker.URL(), ClientID: "bench", KeepAlive: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	wctx, wcancel := context.WithTimeout(ctx, waitTimeout)
	defer wcancel()
	if err := c.WaitConnected(wctx); err != nil {
		b.Fatal(err)
	}
	payload := bytes.Repeat([]byte("x"), 256)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := c.Publish(ctx, "bench/ood", payload, 1, false); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.Close(context.Background())
}

// TestChangedSignalsConnectionChanges: the channel from Changed closes when
// the connection comes up and again when it is lost, so a publisher waiting
// on it wakes at a reconnect.
func TestChangedSignalsConnectionChanges(t *testing.T) {
	broker := mosquittotest.Start(t)
	url := broker.URL()
	broker.Stop()
	c, _ := startClient(t, Options{Broker: url})
	changed := c.Changed()
	select {
	case <-changed:
		// A failed attempt is a change too; take a fresh channel.
		changed = c.Changed()
	case <-time.After(waitTimeout):
		t.Fatal("no change while connection attempts fail")
	}
	if c.Connected() {
		t.Fatal("connected to a stopped broker")
	}
	broker.Restart()
	deadline := time.After(waitTimeout)
	for !c.Connected() {
		select {
		case <-changed:
			changed = c.Changed()
		case <-deadline:
			t.Fatal("Changed did not signal the connection")
		}
	}
	lost := c.Changed()
	broker.Stop()
	select {
	case <-lost:
	case <-time.After(waitTimeout + 10*time.Second): // keep-alive 5 s
		t.Fatal("Changed did not signal the lost connection")
	}
}

// TestResubscribeInOrder: after a connect the subscriptions are renewed in
// the order they were made, so a caller that subscribes to its state topic
// last knows the others are in place once that topic's messages arrive.
func TestResubscribeInOrder(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.WithConfig("log_type subscribe"))
	c, err := New(Options{Broker: b.URL(), ClientID: "ordered", KeepAlive: 5 * time.Second, ConnectTimeout: 2 * time.Second,
		BackoffInitial: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	filters := []string{"site/+/e", "site/+/b", "site/+/d", "site/+/a", "site/+/c", "site/+/status"}
	for _, f := range filters {
		if err := c.Subscribe(context.Background(), f, 1, func(string, []byte) {}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < len(filters) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		got = got[:0]
		for _, line := range strings.Split(b.Log(), "\n") {
			if _, rest, ok := strings.Cut(line, " ordered 1 "); ok {
				got = append(got, strings.TrimSpace(rest))
			}
		}
	}
	if strings.Join(got, " ") != strings.Join(filters, " ") {
		t.Errorf("the broker saw the subscriptions in the order %q, want %q", got, filters)
	}
}
