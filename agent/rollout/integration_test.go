package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/zoo"
)

// agentUnderTest is the part of the runner a rollout touches: a control
// service whose handler starts rollouts, and a frame loop that swaps
// detectors between frames the way the runner does.
type agentUnderTest struct {
	device  string
	manager *Manager
	frames  atomic.Pointer[[]image.Image]
	mu      sync.Mutex
	det     *detect.Detector
}

func startAgent(t *testing.T, ctx context.Context, e *testEnv, broker, device string) *agentUnderTest {
	t.Helper()
	a := &agentUnderTest{device: device}
	id := idFrames(t)
	a.frames.Store(&id)
	opts := e.options(20)
	opts.Dir = t.TempDir()
	var err error
	if a.manager, err = Open(opts); err != nil {
		t.Fatal(err)
	}
	// The agent starts on the embedded model, as with no model configured.
	f, cal, err := zoo.Open(zoo.Default)
	if err != nil {
		t.Fatal(err)
	}
	if a.det, err = detect.New(f, detect.Options{Calibration: cal}); err != nil {
		t.Fatal(err)
	}
	client, err := mqtt.New(mqtt.Options{Broker: broker, ClientID: device, KeepAlive: 5 * time.Second, CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	go client.Run(ctx)
	t.Cleanup(func() { client.Close(context.Background()) })
	v, err := control.NewVerifier(control.VerifierOptions{Keys: e.ring(), Device: device, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var svc *control.Service
	swapper := NewSwapper(ctx, a.manager, func(ctx context.Context, r control.Result) error { return svc.Report(ctx, r) }, nil)
	handler := control.HandlerFunc(func(_ context.Context, c control.Command) (control.Outcome, error) {
		if c.Type == control.TypeRollout {
			return swapper.Start(c)
		}
		return control.Outcome{}, control.ErrUnsupported
	})
	if svc, err = control.NewService(control.ServiceOptions{Prefix: "ood", Verifier: v, Handler: handler, Transport: client}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	go svc.Run(ctx)
	go a.frameLoop(ctx, swapper)
	return a
}

// frameLoop is the runner's frame loop reduced to the rollout wiring.
func (a *agentUnderTest) frameLoop(ctx context.Context, swapper *Swapper) {
	var previous *detect.Detector
	for i := 0; ctx.Err() == nil; i++ {
		a.mu.Lock()
		if c, ok := swapper.Take(); ok {
			if err := a.manager.Activate(c); err != nil {
				c.Close()
			} else {
				previous, a.det = a.det, c.Detector
			}
		}
		frames := *a.frames.Load()
		res, err := a.det.Image(frames[i%len(frames)])
		var v Verdict
		if err != nil {
			a.manager.Rollback("inference failed: " + err.Error())
			v = VerdictRollback
		} else {
			v, _ = a.manager.Observe(res.OOD)
		}
		switch v {
		case VerdictCommit:
			previous.Close()
			previous = nil
		case VerdictRollback:
			if previous != nil {
				a.det.Close()
				a.det, previous = previous, nil
			}
		}
		a.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
}

func (a *agentUnderTest) modelSHA() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.det.File().SHA256()
}

// TestRolloutOverMosquitto sends signed rollout commands through a real
// broker to two agents that download from a TLS server.
func TestRolloutOverMosquitto(t *testing.T) {
	broker := mosquittotest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t)
	agents := map[string]*agentUnderTest{}
	for _, dev := range []string{"cam-a", "cam-b"} {
		agents[dev] = startAgent(t, ctx, e, broker.URL(), dev)
	}
	hub, err := mqtt.New(mqtt.Options{Broker: broker.URL(), ClientID: "hub", KeepAlive: 5 * time.Second, CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	go hub.Run(ctx)
	defer hub.Close(context.Background())
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := hub.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	results := map[string][]control.Result{} // by command id
	if err := hub.Subscribe(ctx, "ood/+/cmd/result", 1, func(_ string, p []byte) {
		var r control.Result
		json.Unmarshal(p, &r)
		mu.Lock()
		results[r.ID] = append(results[r.ID], r)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	signer := control.NewSigner(e.key)
	send := func(target control.Target, signedManifest []byte) string {
		t.Helper()
		c, env, err := signer.SignCommand(control.Draft{Target: target, Type: control.TypeRollout, Args: &control.RolloutArgs{Manifest: signedManifest}})
		if err != nil {
			t.Fatal(err)
		}
		if err := hub.Publish(ctx, target.Topic("ood"), env, 1, false); err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	// awaitEnd waits for the final result of a command on each device and
	// returns the stages seen per device.
	awaitEnd := func(id string, devices ...string) map[string][]control.Result {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			mu.Lock()
			byDev := map[string][]control.Result{}
			for _, r := range results[id] {
				byDev[r.Device] = append(byDev[r.Device], r)
			}
			mu.Unlock()
			done := 0
			for _, d := range devices {
				rs := byDev[d]
				if n := len(rs); n > 0 && (rs[n-1].Stage == string(PhaseCommitted) || !rs[n-1].OK) {
					done++
				}
			}
			if done == len(devices) {
				return byDev
			}
			if time.Now().After(deadline) {
				t.Fatalf("command %s: results so far %+v", id, byDev)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	stages := func(rs []control.Result) []string {
		var s []string
		for _, r := range rs {
			if len(s) == 0 || s[len(s)-1] != r.Stage {
				s = append(s, r.Stage)
			}
		}
		return s
	}
	last := func(rs []control.Result) control.Result { return rs[len(rs)-1] }

	// 1. A rollout for cam-a only: cam-a ends on v1, cam-b is untouched.
	v1 := zooRelease(t, "v1", "fashion_mnist_cnn_energy", nil)
	id := send(control.Device("cam-a"), e.sign(v1.manifest(e.srv)))
	got := awaitEnd(id, "cam-a")
	want := []string{"accepted", "downloading", "staged", "watching", "committed"}
	if s := stages(got["cam-a"]); !slices.Equal(s, want) {
		t.Errorf("cam-a stages %v, want %v", s, want)
	}
	if len(got["cam-b"]) != 0 {
		t.Errorf("cam-b answered a command for cam-a: %+v", got["cam-b"])
	}
	if sha := agents["cam-a"].modelSHA(); sha != v1.manifestSHA() {
		t.Errorf("cam-a runs model %s, want v1", sha[:12])
	}
	if sha := agents["cam-b"].modelSHA(); sha == v1.manifestSHA() {
		t.Error("cam-b runs v1")
	}

	// 2. A broadcast whose model was tampered with on the server: both refuse.
	v2 := zooRelease(t, "v2", "fashion_mnist_cnn_int8", nil)
	signed := e.sign(v2.manifest(e.srv))
	tampered := bytes.Clone(v2.model)
	tampered[1000] ^= 1
	e.srv.add("/models/v2/model.tflite", tampered)
	id = send(control.All, signed)
	got = awaitEnd(id, "cam-a", "cam-b")
	for _, d := range []string{"cam-a", "cam-b"} {
		if r := last(got[d]); r.Stage != string(PhaseFailed) || !strings.Contains(r.Message, "sha256") {
			t.Errorf("%s: tampered model ended with %+v, want failed naming the hash", d, r)
		}
	}

	// 3. A manifest signed by another key inside a validly signed command.
	otherKey, _ := control.GenerateKey(nil)
	forged, _ := SignManifest(control.NewSigner(otherKey), v2.manifest(e.srv))
	id = send(control.Device("cam-b"), forged)
	got = awaitEnd(id, "cam-b")
	if r := last(got["cam-b"]); r.Code != control.CodeUntrustedKey {
		t.Errorf("forged manifest: %+v, want %s", r, control.CodeUntrustedKey)
	}

	// 4. A release that fails the self-test never goes live.
	strict := zooRelease(t, "v3", "fashion_mnist_cnn_int8", func(c *ood.Calibration) { c.Threshold = 50; *c.EnergyThreshold = -50 })
	id = send(control.Device("cam-a"), e.sign(strict.manifest(e.srv)))
	got = awaitEnd(id, "cam-a")
	if r := last(got["cam-a"]); r.Stage != string(PhaseFailed) || !strings.Contains(r.Message, "self-test failed") {
		t.Errorf("miscalibrated release ended with %+v, want a failed self-test", r)
	}

	// 5. A release that goes live on a camera seeing out-of-distribution
	// scenes is rolled back to v1 after the first frames.
	e.srv.add("/models/v2/model.tflite", v2.model)
	noise := oodFrames(t)
	agents["cam-a"].frames.Store(&noise)
	v4 := zooRelease(t, "v4", "fashion_mnist_cnn_energy_int8", nil)
	id = send(control.Device("cam-a"), e.sign(v4.manifest(e.srv)))
	got = awaitEnd(id, "cam-a")
	if r := last(got["cam-a"]); r.Stage != string(PhaseRolledBack) || !strings.Contains(r.Message, "out-of-distribution rate") {
		t.Errorf("release on a noisy camera ended with %+v, want rolled back", r)
	}
	if sha := agents["cam-a"].modelSHA(); sha != v1.manifestSHA() {
		t.Errorf("after the rollback cam-a runs %s, want v1", sha[:12])
	}
	if cur, _ := agents["cam-a"].manager.Current(); cur.Version != "v1" {
		t.Errorf("after the rollback the current link names %q, want v1", cur.Version)
	}
}
