package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
)

// recorder is a Handler that remembers what it applied.
type recorder struct {
	mu      sync.Mutex
	applied []Command
}

func (r *recorder) Apply(_ context.Context, c Command) (Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = append(r.applied, c)
	if c.Type == TypeReload {
		return Outcome{}, fmt.Errorf("configuration file: %w", ErrUnsupported)
	}
	return Outcome{Message: "done", Settings: map[string]any{"paused": c.Type == TypePause}}, nil
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for _, c := range r.applied {
		ids = append(ids, c.ID)
	}
	return ids
}

func connect(t *testing.T, ctx context.Context, broker, id string) *mqtt.Client {
	t.Helper()
	c, err := mqtt.New(mqtt.Options{Broker: broker, ClientID: id, KeepAlive: 5 * time.Second, CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	go c.Run(ctx)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// TestServiceWithMosquitto runs two agents and a hub on a real broker.
func TestServiceWithMosquitto(t *testing.T) {
	broker := mosquittotest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const prefix = "ood"
	key, wrongKey := newKey(t), newKey(t)

	hub := connect(t, ctx, broker.URL(), "hub")
	results := make(chan Result, 64)
	if err := hub.Subscribe(ctx, prefix+"/+/cmd/result", 1, func(_ string, p []byte) {
		var r Result
		if err := json.Unmarshal(p, &r); err != nil {
			t.Errorf("result %s: %v", p, err)
		}
		results <- r
	}); err != nil {
		t.Fatal(err)
	}

	handlers := map[string]*recorder{}
	for _, dev := range []string{"cam-a", "cam-b"} {
		v, err := NewVerifier(VerifierOptions{Keys: ringOf(key), Device: dev, Groups: []string{"lobby"}, StateDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		handlers[dev] = &recorder{}
		s, err := NewService(ServiceOptions{Prefix: prefix, Verifier: v, Handler: handlers[dev], Transport: connect(t, ctx, broker.URL(), dev)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Subscribe(ctx); err != nil {
			t.Fatal(err)
		}
		go s.Run(ctx)
	}

	signer := NewSigner(key)
	publish := func(topic string, env []byte) {
		t.Helper()
		if err := hub.Publish(ctx, topic, env, 1, false); err != nil {
			t.Fatal(err)
		}
	}
	await := func(want ...Result) {
		t.Helper()
		var got []Result
		timeout := time.After(10 * time.Second)
		for len(got) < len(want) {
			select {
			case r := <-results:
				got = append(got, r)
			case <-timeout:
				t.Fatalf("got results %+v, want %d", got, len(want))
			}
		}
		for _, w := range want {
			i := slices.IndexFunc(got, func(r Result) bool { return r.Device == w.Device && r.ID == w.ID })
			if i < 0 {
				t.Fatalf("no result from %s for %s in %+v", w.Device, w.ID, got)
			}
			if g := got[i]; g.OK != w.OK || g.Code != w.Code {
				t.Errorf("result from %s for %s: ok=%v code=%q (%s), want ok=%v code=%q", w.Device, w.ID, g.OK, g.Code, g.Message, w.OK, w.Code)
			}
		}
	}

	// A command for cam-a, also pushed to cam-b's topic by someone with
	// access to the broker: only cam-a applies it.
	pause, env, err := signer.SignCommand(Draft{Target: Device("cam-a"), Type: TypePause})
	if err != nil {
		t.Fatal(err)
	}
	publish(Device("cam-a").Topic(prefix), env)
	publish(Device("cam-b").Topic(prefix), env)
	await(Result{Device: "cam-a", ID: pause.ID, OK: true}, Result{Device: "cam-b", ID: pause.ID, Code: CodeWrongTarget})

	// The same envelope again is a replay.
	publish(Device("cam-a").Topic(prefix), env)
	await(Result{Device: "cam-a", ID: pause.ID, Code: CodeReplayed})

	// Expired: signed by a hub whose clock says ten minutes ago.
	old := NewSigner(key)
	old.now = func() time.Time { return time.Now().Add(-10 * time.Minute) }
	expired, env, err := old.SignCommand(Draft{Target: Device("cam-a"), Type: TypeResume, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	publish(Device("cam-a").Topic(prefix), env)
	await(Result{Device: "cam-a", ID: expired.ID, Code: CodeExpired})

	// Signed by a key the agents do not trust.
	forged, env, err := NewSigner(wrongKey).SignCommand(Draft{Target: All, Type: TypeResume})
	if err != nil {
		t.Fatal(err)
	}
	publish(All.Topic(prefix), env)
	await(Result{Device: "cam-a", ID: forged.ID, Code: CodeUntrustedKey}, Result{Device: "cam-b", ID: forged.ID, Code: CodeUntrustedKey})

	// A group command reaches both; a handler error is reported with its code.
	group, env, err := signer.SignCommand(Draft{Target: Group("lobby"), Type: TypeSetThreshold, Args: &SetThresholdArgs{TargetTPR: ptr(0.9)}})
	if err != nil {
		t.Fatal(err)
	}
	publish(Group("lobby").Topic(prefix), env)
	reload, renv, err := signer.SignCommand(Draft{Target: All, Type: TypeReload})
	if err != nil {
		t.Fatal(err)
	}
	publish(All.Topic(prefix), renv)
	await(Result{Device: "cam-a", ID: group.ID, OK: true}, Result{Device: "cam-b", ID: group.ID, OK: true},
		Result{Device: "cam-a", ID: reload.ID, Code: CodeUnsupported}, Result{Device: "cam-b", ID: reload.ID, Code: CodeUnsupported})

	if got := handlers["cam-a"].ids(); !slices.Equal(got, []string{pause.ID, group.ID, reload.ID}) {
		t.Errorf("cam-a applied %v, want %v", got, []string{pause.ID, group.ID, reload.ID})
	}
	if got := handlers["cam-b"].ids(); !slices.Equal(got, []string{group.ID, reload.ID}) {
		t.Errorf("cam-b applied %v, want %v", got, []string{group.ID, reload.ID})
	}
}

func TestServicePanickingHandler(t *testing.T) {
	key := newKey(t)
	v := newVerifier(t, ringOf(key), "cam-a")
	var published [][]byte
	tr := transportFunc(func(_ string, p []byte) error { published = append(published, p); return nil })
	s, err := NewService(ServiceOptions{Prefix: "ood", Verifier: v, Transport: tr,
		Handler: HandlerFunc(func(context.Context, Command) (Outcome, error) { panic("boom") })})
	if err != nil {
		t.Fatal(err)
	}
	r := s.Process(context.Background(), seal(t, key, wire(TypePause, "device/cam-a", nil)))
	if r.OK || r.Code != CodeApplyFailed || len(published) != 1 {
		t.Fatalf("result %+v after %d publishes, want one apply_failed", r, len(published))
	}
}

type transportFunc func(topic string, payload []byte) error

func (f transportFunc) Subscribe(context.Context, string, byte, func(string, []byte)) error {
	return nil
}

func (f transportFunc) Publish(_ context.Context, topic string, payload []byte, _ byte, _ bool) error {
	return f(topic, payload)
}

func TestRefusalResultsRateLimited(t *testing.T) {
	key := newKey(t)
	v := newVerifier(t, ringOf(key), "cam-a")
	now := t0
	published := 0
	s, err := NewService(ServiceOptions{Prefix: "ood", Verifier: v, Handler: &recorder{}, Now: func() time.Time { return now },
		Transport: transportFunc(func(string, []byte) error { published++; return nil })})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		s.Process(context.Background(), []byte("junk"))
	}
	if published != refusalBurst {
		t.Fatalf("%d refusal results for a burst of 50, want %d", published, refusalBurst)
	}
	now = now.Add(3 * refusalEvery)
	for range 10 {
		s.Process(context.Background(), []byte("junk"))
	}
	if published != refusalBurst+3 {
		t.Errorf("%d refusal results after 3 refill periods, want %d", published, refusalBurst+3)
	}
	// Accepted commands are always answered.
	if r := s.Process(context.Background(), seal(t, key, wire(TypePause, "device/cam-a", nil))); !r.OK || published != refusalBurst+4 {
		t.Errorf("accepted command during the flood: %+v, %d published", r, published)
	}
}

// TestOutcomeThenAfterResult: a long command's later stages start from
// Outcome.Then, which runs once its first result is published, and not
// for a failed command.
func TestOutcomeThenAfterResult(t *testing.T) {
	key := newKey(t)
	v := newVerifier(t, ringOf(key), "cam-a")
	var events []string
	tr := transportFunc(func(_ string, p []byte) error {
		var r Result
		json.Unmarshal(p, &r)
		events = append(events, "published "+r.Stage+string(r.Code))
		return nil
	})
	fail := false
	s, err := NewService(ServiceOptions{Prefix: "ood", Verifier: v, Transport: tr,
		Handler: HandlerFunc(func(context.Context, Command) (Outcome, error) {
			if fail {
				return Outcome{Then: func() { events = append(events, "then of a failure") }}, errors.New("no")
			}
			return Outcome{Stage: "accepted", Then: func() { events = append(events, "then") }}, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	s.Process(context.Background(), seal(t, key, wire(TypePause, "device/cam-a", nil)))
	fail = true
	second := wire(TypeResume, "device/cam-a", nil)
	second["id"], second["nonce"], second["seq"] = "c-2", "n-2", 101
	s.Process(context.Background(), seal(t, key, second))
	if want := []string{"published accepted", "then", "published apply_failed"}; !slices.Equal(events, want) {
		t.Errorf("events %q, want %q", events, want)
	}
}
