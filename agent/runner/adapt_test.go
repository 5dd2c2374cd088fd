package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/feedback"
	"github.com/ood-agent/ood-agent/agent/internal/logtest"
	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/agent/rollout"
	"github.com/ood-agent/ood-agent/config"
	"github.com/ood-agent/ood-agent/model/dataset"
	"github.com/ood-agent/ood-agent/model/zoo"
)

// TestScheduledAdaptation runs the agent with feedback and adaptation on,
// no remote control, a real broker and the demo model: operators confirm
// alerts over MQTT; once min_labels labels wait, the agent retrains the
// last layer, stages and self-tests the new model, switches to it between
// frames and commits it after a watch of in-distribution frames. A second
// adaptation goes live while the camera sees noise: the watch rolls it
// back to the first adapted model. Each stage reaches the broker as an
// adaptation message.
func TestScheduledAdaptation(t *testing.T) {
	fashion := fashionFrames(t, 220)
	r := newAdaptRig(t, config.Adapt{Enabled: true, MinLabels: 4, Interval: time.Second, TPR: 0.95, MaxAccuracyDrop: 0.2}, func(cfg *config.Config) {
		cfg.Control.Rollout.WatchFrames = 10
		cfg.Control.Rollout.MaxOODRate = 0.5
		// The watch, not the self-test, is what this test is about: the
		// second model, trained on whichever reservoir frames the store
		// kept, may accept a few fewer of the last in-distribution frames
		// than the default tolerance allows (CI once saw 81% against a
		// need of 81%).
		cfg.Control.Rollout.SelfTestTolerance = 0.5
	})
	a, alerts, frames := r.a, r.alerts, r.frames
	labeled := 0
	// confirm labels every alert not yet labeled as out of distribution.
	confirm := func() {
		for _, id := range alerts.from(labeled) {
			r.label(t, id, "confirmed", "")
			labeled++
		}
	}
	next := 0
	write := func(imgs []image.Image) {
		for _, img := range imgs {
			var b bytes.Buffer
			png.Encode(&b, img)
			tmp := filepath.Join(frames, fmt.Sprintf(".%05d.tmp", next))
			os.WriteFile(tmp, b.Bytes(), 0o644)
			os.Rename(tmp, filepath.Join(frames, fmt.Sprintf("f-%05d.png", next)))
			next++
		}
	}
	phase := func() rollout.Phase { return a.fleet.mgr.State().Phase }
	// feed writes one frame of next() every 50 ms until cond holds, as a
	// camera keeps sending them: the switch to a staged model comes with
	// the first frame after its self-test, and the watch counts the
	// frames after that, so a batch written at once may be gone before.
	feed := func(what string, next func() image.Image, cond func() bool) {
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			write([]image.Image{next()})
			time.Sleep(50 * time.Millisecond)
		}
	}

	// In-distribution frames fill the reservoir; noise frames alert.
	write(fashion[:120])
	write(noiseFrames(6))
	waitFor(t, "the noise alerts", 60*time.Second, func() bool { return alerts.count() >= 6 })
	confirm()
	// The frame loop switches between two frames: the next ones after
	// the model is staged run on it and are watched.
	waitFor(t, "the first adapted model to be staged", 60*time.Second, func() bool { return phase() == rollout.PhaseStaged })
	first := a.fleet.mgr.State().Version
	if !strings.HasPrefix(first, "adapt-") {
		t.Fatalf("staged version %q, want an adapt- version", first)
	}
	i := 0
	feed("the first adapted model to be committed", func() image.Image { i++; return fashion[120+i%20] },
		func() bool { return phase() == rollout.PhaseCommitted })
	if v := a.active().version; v != first {
		t.Fatalf("active model %q after the commit, want %q", v, first)
	}

	// More confirmed alerts start a second adaptation; the camera then
	// sees noise, which the watch counts against the new model.
	// In-distribution vectors of the new model for the next training.
	write(fashion[140:220])
	seen := alerts.count()
	write(noiseFrames(6))
	waitFor(t, "more alerts", 60*time.Second, func() bool { return alerts.count() >= seen+4 })
	time.Sleep(time.Second) // the Unix-second version names must differ
	confirm()
	waitFor(t, "the second adapted model to be staged", 60*time.Second, func() bool {
		st := a.fleet.mgr.State()
		return st.Phase == rollout.PhaseStaged && st.Version != first
	})
	feed("the rollback", func() image.Image { return noiseFrames(1)[0] },
		func() bool { return phase() == rollout.PhaseRolledBack })
	if v := a.active().version; v != first {
		t.Errorf("active model %q after the rollback, want the first adapted one %q", v, first)
	}
	if cur, ok := a.fleet.mgr.Current(); !ok || cur.Version != first {
		t.Errorf("current link %+v (%v), want %s", cur, ok, first)
	}

	second := a.fleet.mgr.State().Version
	want := []string{first + " switching", first + " committed", second + " switching", second + " rolled_back"}
	waitFor(t, "the adaptation messages", 10*time.Second, func() bool { return len(r.adaptations()) >= len(want) })
	stages := r.adaptations()
	var got []string
	for _, s := range stages {
		got = append(got, s.Version+" "+string(s.Stage))
		if s.DeviceID != "test-device" || s.Training == nil || s.Training.Labels < 4 || s.Training.IDSamples == 0 || s.Training.Folds < 2 {
			t.Errorf("adaptation message %+v (training %+v): want the device and the training", s, s.Training)
		}
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("adaptation stages %q, want %q", got, want)
	}
	if m := stages[len(stages)-1].Message; !strings.Contains(m, "of the first") {
		t.Errorf("rollback message %q, want the watch's count", m)
	}
}

// fashionFrames returns the first n Fashion-MNIST test images, which the
// demo model takes as in distribution.
func fashionFrames(t *testing.T, n int) []image.Image {
	t.Helper()
	set, err := dataset.ReadIdxImages("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
	if err != nil {
		t.Fatalf("Fashion-MNIST (Debian package dataset-fashion-mnist): %v", err)
	}
	out := make([]image.Image, n)
	for i := range out {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		copy(img.Pix, set.Pixels[i*28*28:(i+1)*28*28])
		out[i] = img
	}
	return out
}

var noiseSeed uint64

// noiseFrames returns n frames of uniform noise, new ones on every call.
func noiseFrames(n int) []image.Image {
	out := make([]image.Image, n)
	for i := range out {
		noiseSeed++
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		x := noiseSeed * 0x9e3779b97f4a7c15
		for k := range img.Pix {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			img.Pix[k] = uint8(x)
		}
		out[i] = img
	}
	return out
}

// TestLabelOfUnknownClassRefused: a false alarm's class that the model
// does not have is refused when the label arrives (the hub shows the
// refusal), not stored to fail the adaptation later.
func TestLabelOfUnknownClassRefused(t *testing.T) {
	r := newAdaptRig(t, config.Adapt{Enabled: true, MinLabels: 1, Interval: time.Second, TPR: 0.95, MaxAccuracyDrop: 0.2}, nil)
	var mu sync.Mutex
	results := map[string]feedback.Result{}
	subscribeJSON(t, r.pubURL, "results-"+t.Name(), "ood/test-device/feedback/result", func(res feedback.Result) {
		mu.Lock()
		results[res.ID] = res
		mu.Unlock()
	})
	for i, img := range noiseFrames(2) {
		var b bytes.Buffer
		png.Encode(&b, img)
		tmp := filepath.Join(r.frames, fmt.Sprintf(".%d.tmp", i))
		os.WriteFile(tmp, b.Bytes(), 0o644)
		os.Rename(tmp, filepath.Join(r.frames, fmt.Sprintf("noise-%d.png", i)))
	}
	waitFor(t, "the noise alerts", 60*time.Second, func() bool { return r.alerts.count() >= 2 })
	ids := r.alerts.from(0)
	r.label(t, ids[0], "false_alarm", "no-such-class")
	r.label(t, ids[1], "false_alarm", "Sneaker")
	waitFor(t, "both results", 15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(results) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if res := results["fb-"+ids[0]]; res.OK || res.Code != feedback.CodeInvalid || !strings.Contains(res.Message, `no class "no-such-class"`) {
		t.Errorf("label naming an unknown class: %+v, want refused as invalid", res)
	}
	if res := results["fb-"+ids[1]]; !res.OK {
		t.Errorf("label naming a class of the model: %+v, want applied", res)
	}
}

func TestAdaptFailuresPublishedOnce(t *testing.T) {
	unknown := errors.New("adapt: ID sample 3 has class 12, want [0, 10)")
	steps := []struct {
		err  error
		want bool
	}{
		{unknown, true},
		{unknown, false}, // the same error at the next interval
		{fmt.Errorf("%w", unknown), false},
		{errors.New("rollout: another rollout is in progress"), true},
		{unknown, true}, // it changed back
		{nil, false},    // an adaptation went through, or waits for labels
		{unknown, true},
		{adaptReported{errors.New("self-test failed")}, false}, // the manager published it
	}
	var f adaptFailures
	for i, s := range steps {
		if got := f.publish(s.err); got != s.want {
			t.Errorf("step %d (%v): publish = %v, want %v", i, s.err, got, s.want)
		}
	}
}

// adaptRig runs an agent with feedback and adaptation on, no remote
// control, a real broker and the demo model, with a labeler client and
// collectors of the agent's alerts and adaptation messages.
type adaptRig struct {
	a      *Agent
	ctx    context.Context
	frames string
	alerts *alertIDs
	pub    *mqtt.Client
	logs   *logtest.Buffer
	pubURL string // the broker's

	mu     sync.Mutex
	stages []event.Adaptation
}

// newAdaptRig starts the rig with adapt, after tune (if not nil) has
// changed the rest of the configuration.
func newAdaptRig(t *testing.T, adapt config.Adapt, tune func(*config.Config)) *adaptRig {
	t.Helper()
	broker := startBroker(t)
	r := &adaptRig{frames: t.TempDir(), pubURL: broker.URL()}
	cfg := testConfig(t, r.frames, t.TempDir(), broker.URL())
	cfg.Decision.Threshold = nil // the calibration's
	cfg.Feedback.Enabled = true
	cfg.Adapt = adapt
	if tune != nil {
		tune(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r.alerts = collectAlertIDs(t, broker.URL(), "central-"+t.Name())
	subscribeJSON(t, broker.URL(), "adaptations-"+t.Name(), "ood/test-device/adaptation", func(ad event.Adaptation) {
		r.mu.Lock()
		r.stages = append(r.stages, ad)
		r.mu.Unlock()
	})
	logger, logs := logtest.New()
	r.logs = logs
	file, calib, err := zoo.Open(zoo.Default)
	if err != nil {
		t.Fatal(err)
	}
	r.a, err = New(Options{Config: cfg, Model: file, Calibration: calib, Version: "test", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.ctx = ctx
	done := make(chan error, 1)
	go func() { done <- r.a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	})
	r.pub, err = mqtt.New(mqtt.Options{Broker: broker.URL(), ClientID: "labeler", KeepAlive: 5 * time.Second,
		BackoffInitial: 50 * time.Millisecond, BackoffMax: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go r.pub.Run(ctx)
	if err := r.pub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

// label publishes an operator's label of an alert, as the hub does with
// control off.
func (r *adaptRig) label(t *testing.T, alertID, kind, class string) {
	t.Helper()
	m := map[string]any{"id": "fb-" + alertID, "alert_id": alertID, "label": kind}
	if class != "" {
		m["class"] = class
	}
	label, _ := json.Marshal(m)
	if err := r.pub.Publish(r.ctx, "ood/test-device/feedback", label, 1, false); err != nil {
		t.Fatal(err)
	}
}

// adaptations returns the adaptation messages received so far.
func (r *adaptRig) adaptations() []event.Adaptation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.stages)
}
