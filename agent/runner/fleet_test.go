package runner

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/internal/schematest"
	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/agent/rollout"
	"github.com/ood-agent/ood-agent/config"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/zoo"
)

// fleetHub is the hub's side of a fleet test: it signs commands, publishes
// them on a real broker, records every result, alert, evidence and status
// message, and serves model releases over TLS.
type fleetHub struct {
	t      *testing.T
	url    string
	key    ed25519.PrivateKey
	signer *control.Signer
	srv    *httptest.Server
	caFile string

	mu       sync.Mutex
	files    map[string][]byte
	results  map[string][]control.Result // by command id
	alerts   map[string][]event.Message  // by device
	evidence map[string][]byte           // by topic
	status   map[string]event.Status     // by device
	sent     map[string][]byte           // envelopes by command id
	pub      func(topic string, payload []byte) error
	// stallAfter > 0 makes model downloads without Range hang after that
	// many bytes; stalled says one did.
	stallAfter int
	stalled    bool
	ranges     []string // "path range" of each request
}

func newFleetHub(t *testing.T, brokerURL string) *fleetHub {
	t.Helper()
	key, err := control.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &fleetHub{t: t, url: brokerURL, key: key, signer: control.NewSigner(key), files: map[string][]byte{},
		results: map[string][]control.Result{}, alerts: map[string][]event.Message{}, evidence: map[string][]byte{},
		status: map[string]event.Status{}, sent: map[string][]byte{}}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		data, ok := h.files[r.URL.Path]
		h.mu.Unlock()
		h.mu.Lock()
		h.ranges = append(h.ranges, r.URL.Path+" "+r.Header.Get("Range"))
		stall := h.stallAfter > 0 && r.Header.Get("Range") == "" && strings.HasSuffix(r.URL.Path, ".tflite")
		h.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if stall {
			// Send the first bytes, then hang until the client goes
			// away: a download the agent is killed in the middle of.
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			w.Write(data[:h.stallAfter])
			w.(http.Flusher).Flush()
			h.mu.Lock()
			h.stalled = true
			h.mu.Unlock()
			<-r.Context().Done()
			return
		}
		http.ServeContent(w, r, filepath.Base(r.URL.Path), time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(h.srv.Close)
	h.caFile = filepath.Join(t.TempDir(), "hub-ca.pem")
	if err := os.WriteFile(h.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	resultSchema := schematest.Compile(t, "command_result.schema.json")
	runSubscriber(t, brokerURL, "hub-results-"+t.Name(), true, "ood/+/cmd/result", func(_ string, p []byte) {
		if err := schematest.Validate(resultSchema, p); err != nil {
			t.Errorf("result %s: %v", p, err)
		}
		var r control.Result
		if err := json.Unmarshal(p, &r); err != nil {
			t.Errorf("result payload: %v", err)
			return
		}
		h.mu.Lock()
		h.results[r.ID] = append(h.results[r.ID], r)
		h.mu.Unlock()
	})
	subscribeJSON(t, brokerURL, "hub-alerts-"+t.Name(), "ood/+/alert", func(m event.Message) {
		h.mu.Lock()
		h.alerts[m.DeviceID] = append(h.alerts[m.DeviceID], m)
		h.mu.Unlock()
	})
	subscribeJSON(t, brokerURL, "hub-status-"+t.Name(), "ood/+/status", func(st event.Status) {
		h.mu.Lock()
		h.status[st.DeviceID] = st
		h.mu.Unlock()
	})
	runSubscriber(t, brokerURL, "hub-evidence-"+t.Name(), true, "ood/+/evidence/#", func(topic string, p []byte) {
		h.mu.Lock()
		h.evidence[topic] = bytes.Clone(p)
		h.mu.Unlock()
	})
	pub, err := mqtt.New(mqtt.Options{Broker: brokerURL, ClientID: "hub-pub-" + t.Name(), KeepAlive: 5 * time.Second, CleanSession: true,
		BackoffInitial: 50 * time.Millisecond, BackoffMax: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { pub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := pub.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	h.pub = func(topic string, payload []byte) error {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		defer pcancel()
		return pub.Publish(pctx, topic, payload, 1, false)
	}
	return h
}

// subscribeJSON runs a clean-session subscriber to filter that decodes
// each message as a T.
func subscribeJSON[T any](t *testing.T, url, clientID, filter string, handle func(T)) {
	t.Helper()
	runSubscriber(t, url, clientID, true, filter, func(topic string, p []byte) {
		var v T
		if err := json.Unmarshal(p, &v); err != nil {
			t.Errorf("%s payload: %v", topic, err)
			return
		}
		handle(v)
	})
}

// agentConfig is the configuration of one controlled agent.
func (h *fleetHub) agentConfig(t *testing.T, device, frames, state string, groups ...string) *config.Config {
	cfg := testConfig(t, frames, state, h.url)
	cfg.DeviceID = device
	cfg.MQTT.ClientID = "agent-" + device + "-" + t.Name()
	cfg.Decision.Threshold = nil // the calibrated threshold
	cfg.Control.TrustedKeys = []string{h.signer.PublicKey()}
	cfg.Control.Groups = groups
	cfg.Control.Rollout.HubURL = h.srv.URL
	cfg.Control.Rollout.CAFile = h.caFile
	cfg.Control.Rollout.SelfTestFrames = 8
	cfg.Control.Rollout.WatchFrames = 4
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// send signs a command for target and publishes it on the target's topic.
func (h *fleetHub) send(target control.Target, typ control.Type, args any) string {
	h.t.Helper()
	return h.sendWith(h.signer, target, typ, args)
}

func (h *fleetHub) sendWith(s *control.Signer, target control.Target, typ control.Type, args any) string {
	h.t.Helper()
	c, env, err := s.SignCommand(control.Draft{Target: target, Type: typ, Args: args})
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.sent[c.ID] = env
	h.mu.Unlock()
	h.publish(target.Topic("ood"), env)
	return c.ID
}

func (h *fleetHub) publish(topic string, env []byte) {
	h.t.Helper()
	if err := h.pub(topic, env); err != nil {
		h.t.Fatal(err)
	}
}

// await waits until pred holds for the results of id per device, and
// returns them.
func (h *fleetHub) await(id string, what string, pred func(byDev map[string][]control.Result) bool) map[string][]control.Result {
	h.t.Helper()
	var byDev map[string][]control.Result
	waitFor(h.t, what, 60*time.Second, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		byDev = map[string][]control.Result{}
		for _, r := range h.results[id] {
			byDev[r.Device] = append(byDev[r.Device], r)
		}
		return pred(byDev)
	})
	return byDev
}

// final waits for the last result of a command on device: a failure, or
// a one-step command's answer, or the end of a long one.
func (h *fleetHub) final(id, device string) control.Result {
	h.t.Helper()
	byDev := h.await(id, fmt.Sprintf("result of %s on %s", id, device), func(byDev map[string][]control.Result) bool {
		rs := byDev[device]
		if len(rs) == 0 {
			return false
		}
		r := rs[len(rs)-1]
		switch r.Stage {
		case "", "published", string(rollout.PhaseCommitted), string(rollout.PhaseRolledBack), string(rollout.PhaseFailed):
			return true
		}
		return !r.OK
	})
	rs := byDev[device]
	return rs[len(rs)-1]
}

func settingsOf(t *testing.T, r control.Result) Settings {
	t.Helper()
	b, _ := json.Marshal(r.Settings)
	var s Settings
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("settings of %+v: %v", r, err)
	}
	return s
}

func (h *fleetHub) alertCount(device string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.alerts[device])
}

func (h *fleetHub) waitOnline(device string) {
	h.t.Helper()
	waitFor(h.t, device+" online", 30*time.Second, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.status[device].State == event.StateOnline
	})
}

// release serves a zoo model and its (possibly edited) calibration and
// returns the signed manifest and the model's hash.
func (h *fleetHub) release(version, name string, change func(*ood.Calibration)) ([]byte, string) {
	h.t.Helper()
	f, c, err := zoo.Open(name)
	if err != nil {
		h.t.Fatal(err)
	}
	if change != nil {
		change(c)
	}
	var cal bytes.Buffer
	if err := c.Write(&cal); err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.files["/models/"+version+"/model.tflite"] = f.Raw
	h.files["/models/"+version+"/calibration.json"] = cal.Bytes()
	h.mu.Unlock()
	m, err := rollout.NewManifest(version, f.Raw, cal.Bytes(), "/models/"+version+"/model.tflite", "/models/"+version+"/calibration.json")
	if err != nil {
		h.t.Fatal(err)
	}
	signed, err := rollout.SignManifest(h.signer, m)
	if err != nil {
		h.t.Fatal(err)
	}
	return signed, f.SHA256()
}

// feeder copies the demo's in-distribution frames (and, on request, noise
// frames) into a watched directory, one every interval, until the test
// ends.
type feeder struct {
	t     *testing.T
	dir   string
	mu    sync.Mutex
	n     int
	noise int // noise frames still to write
}

func startFeeder(t *testing.T, dir string, every time.Duration) *feeder {
	f := &feeder{t: t, dir: dir}
	id, err := filepath.Glob(filepath.Join("..", "demo", "frames", "0[1-8]-fashion-*.png"))
	if err != nil || len(id) == 0 {
		t.Fatalf("demo frames: %v", err)
	}
	// Noise and a checkerboard, which the zoo models flag.
	odd, err := filepath.Glob(filepath.Join("..", "demo", "frames", "1[3-5]-*.png"))
	if err != nil || len(odd) == 0 {
		t.Fatalf("demo frames: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			f.mu.Lock()
			i := f.n
			f.n++
			noise := f.noise > 0
			if noise {
				f.noise--
			}
			f.mu.Unlock()
			src := id[i%len(id)]
			if noise {
				src = odd[i%len(odd)]
			}
			data, err := os.ReadFile(src)
			if err != nil {
				t.Error(err)
				return
			}
			tmp := filepath.Join(dir, fmt.Sprintf(".id-%05d.tmp", i))
			os.WriteFile(tmp, data, 0o644)
			os.Rename(tmp, filepath.Join(dir, fmt.Sprintf("id-%05d.png", i)))
		}
	}()
	return f
}

// addNoise makes the next n frames out of distribution.
func (f *feeder) addNoise(n int) {
	f.mu.Lock()
	f.noise += n
	f.mu.Unlock()
}

// TestFleetControl runs two agents in child processes against a real
// broker and sends them signed commands the way the hub does.
func TestFleetControl(t *testing.T) {
	broker := startBroker(t)
	hub := newFleetHub(t, broker.URL())
	type dev struct {
		frames, state string
		feed          *feeder
		cmd           *exec.Cmd
	}
	devs := map[string]*dev{}
	for _, name := range []string{"cam-a", "cam-b"} {
		d := &dev{frames: t.TempDir(), state: t.TempDir()}
		cfg := hub.agentConfig(t, name, d.frames, d.state, "lobby")
		d.cmd = childAgents(t, d.state, cfg)()
		t.Cleanup(func() { d.cmd.Process.Kill(); d.cmd.Wait() })
		d.feed = startFeeder(t, d.frames, 100*time.Millisecond)
		devs[name] = d
	}
	for name := range devs {
		hub.waitOnline(name)
	}
	_, configuredSHA, _ := zooModel(t)

	// 1. A threshold for cam-a only: cam-a answers with the new setting;
	// a broadcast report_config shows cam-b kept the calibrated one.
	everything := -1e9
	id := hub.send(control.Device("cam-a"), control.TypeSetThreshold, &control.SetThresholdArgs{Threshold: &everything})
	r := hub.final(id, "cam-a")
	if s := settingsOf(t, r); !r.OK || s.Threshold != everything || !s.Overridden || s.DeviceID != "cam-a" {
		t.Fatalf("set_threshold result %+v, settings %+v", r, s)
	}
	id = hub.send(control.All, control.TypeReportConfig, nil)
	ra, rb := hub.final(id, "cam-a"), hub.final(id, "cam-b")
	sa, sb := settingsOf(t, ra), settingsOf(t, rb)
	if sa.Threshold != everything || sb.Threshold == everything || sb.Overridden {
		t.Errorf("after set_threshold for cam-a: cam-a %v, cam-b %v (overridden %v)", sa.Threshold, sb.Threshold, sb.Overridden)
	}
	if !strings.Contains(sa.Config, `device_id: "cam-a"`) || sa.Model.SHA256 != configuredSHA {
		t.Errorf("report_config: model %s, config\n%s", sa.Model.SHA256, sa.Config)
	}
	if sa.Rollout == nil || sa.Rollout.Phase != string(rollout.PhaseIdle) {
		t.Errorf("report_config rollout state %+v, want idle", sa.Rollout)
	}
	waitFor(t, "cam-a alerting under its new threshold", 30*time.Second, func() bool { return hub.alertCount("cam-a") > 0 })
	if n := hub.alertCount("cam-b"); n != 0 {
		t.Errorf("cam-b alerted %d times on in-distribution frames", n)
	}

	// 2. The same envelope again, and a command signed by another key:
	// both refused with a result naming why.
	hub.mu.Lock()
	replay := hub.sent[id]
	hub.mu.Unlock()
	hub.publish(control.All.Topic("ood"), replay)
	hub.await(id, "replay refused", func(byDev map[string][]control.Result) bool {
		rs := byDev["cam-a"]
		return len(rs) == 2 && rs[1].Code == control.CodeReplayed
	})
	// cam-a's command copied to cam-b's topic: the signed target decides.
	forA := hub.send(control.Device("cam-a"), control.TypeReportConfig, nil)
	hub.final(forA, "cam-a")
	hub.mu.Lock()
	copied := hub.sent[forA]
	hub.mu.Unlock()
	hub.publish(control.Device("cam-b").Topic("ood"), copied)
	if r := hub.final(forA, "cam-b"); r.OK || r.Code != control.CodeWrongTarget {
		t.Errorf("cam-a's command on cam-b's topic: %+v, want %s", r, control.CodeWrongTarget)
	}
	// An expired command (signed by the right key, issued two hours ago
	// with a five-minute lifetime) and a plain unsigned one.
	old := time.Now().Add(-2 * time.Hour).UTC()
	expired := fmt.Sprintf(`{"v":1,"id":"c-expired","target":"device/cam-b","issued_at":%q,"ttl_s":300,"nonce":"bm9uY2Utbm9uY2Utbm9uY2U","seq":%d,"type":"pause"}`,
		old.Format(time.RFC3339Nano), old.UnixMicro())
	env, err := control.Seal(hub.key, control.PurposeCommand, []byte(expired))
	if err != nil {
		t.Fatal(err)
	}
	hub.publish(control.Device("cam-b").Topic("ood"), env)
	if r := hub.final("c-expired", "cam-b"); r.OK || r.Code != control.CodeExpired {
		t.Errorf("expired command: %+v, want %s", r, control.CodeExpired)
	}
	hub.publish(control.Device("cam-b").Topic("ood"), []byte(`{"v":1,"id":"c-plain","type":"pause"}`))
	if r := hub.final("c-plain", "cam-b"); r.OK || r.Code != control.CodeUnsigned {
		t.Errorf("unsigned command: %+v, want %s", r, control.CodeUnsigned)
	}
	otherKey, _ := control.GenerateKey(nil)
	id = hub.sendWith(control.NewSigner(otherKey), control.Device("cam-b"), control.TypePause, nil)
	if r := hub.final(id, "cam-b"); r.OK || r.Code != control.CodeUntrustedKey {
		t.Errorf("command signed by another key: %+v, want %s", r, control.CodeUntrustedKey)
	}

	// 3. Pause cam-a through its group: no alert while paused although
	// every frame is out of distribution under its threshold; a snapshot
	// still comes; resume brings the alerts back.
	id = hub.send(control.Group("lobby"), control.TypePause, nil)
	for _, name := range []string{"cam-a", "cam-b"} {
		if r := hub.final(id, name); !r.OK || !settingsOf(t, r).Paused {
			t.Fatalf("pause on %s: %+v", name, r)
		}
	}
	id = hub.send(control.Device("cam-a"), control.TypeSnapshot, nil)
	r = hub.final(id, "cam-a")
	if !r.OK || r.Stage != "published" {
		t.Fatalf("snapshot: %+v", r)
	}
	waitFor(t, "snapshot evidence", 30*time.Second, func() bool {
		hub.mu.Lock()
		defer hub.mu.Unlock()
		jpeg := hub.evidence[r.Message]
		return len(jpeg) > 2 && jpeg[0] == 0xFF && jpeg[1] == 0xD8
	})
	// Frames read before the pause may still be classified and their
	// alerts delivered; give them time, then count.
	time.Sleep(time.Second)
	before := hub.alertCount("cam-a")
	time.Sleep(1500 * time.Millisecond)
	if after := hub.alertCount("cam-a"); after != before {
		t.Errorf("cam-a alerted %d times while paused", after-before)
	}
	id = hub.send(control.Device("cam-a"), control.TypeResume, nil)
	if r := hub.final(id, "cam-a"); !r.OK || settingsOf(t, r).Paused {
		t.Fatalf("resume: %+v", r)
	}
	waitFor(t, "alerts after resume", 30*time.Second, func() bool { return hub.alertCount("cam-a") > before })
	id = hub.send(control.Device("cam-b"), control.TypeResume, nil)
	hub.final(id, "cam-b")

	// Decision settings for cam-b, then a reload: the file's settings
	// (frame mode) come back.
	mode, k, n3 := "stream", 2, 3
	id = hub.send(control.Device("cam-b"), control.TypeSetDecision, &control.SetDecisionArgs{Mode: &mode, K: &k, N: &n3})
	if s := settingsOf(t, hub.final(id, "cam-b")); s.Mode != "stream" || s.K != 2 || s.N != 3 {
		t.Errorf("set_decision: settings %+v", s)
	}
	id = hub.send(control.Device("cam-b"), control.TypeReload, nil)
	if r := hub.final(id, "cam-b"); !r.OK || settingsOf(t, r).Mode != "frame" {
		t.Errorf("reload: %+v", r)
	}

	// 4. Back to the calibration's 95% target, then a rollout of another
	// zoo model to cam-a: it swaps, and its alerts name the new model.
	tpr := 0.95
	id = hub.send(control.Device("cam-a"), control.TypeSetThreshold, &control.SetThresholdArgs{TargetTPR: &tpr})
	sa = settingsOf(t, hub.final(id, "cam-a"))
	if math.Abs(sa.Threshold-sb.Threshold) > 0.05*math.Abs(sb.Threshold)+0.05 {
		t.Errorf("target_tpr 0.95 gave %v, the calibrated threshold is %v", sa.Threshold, sb.Threshold)
	}
	manifest, newSHA := hub.release("v1", "fashion_mnist_cnn_energy", nil)
	id = hub.send(control.Device("cam-a"), control.TypeRollout, &control.RolloutArgs{Manifest: manifest})
	got := hub.await(id, "rollout committed on cam-a", func(byDev map[string][]control.Result) bool {
		rs := byDev["cam-a"]
		return len(rs) > 0 && (rs[len(rs)-1].Stage == string(rollout.PhaseCommitted) || !rs[len(rs)-1].OK)
	})
	if want := []string{"accepted", "downloading", "staged", "watching", "committed"}; !slices.Equal(stageList(got["cam-a"]), want) {
		t.Fatalf("cam-a rollout stages %v, want %v; results %+v", stageList(got["cam-a"]), want, got["cam-a"])
	}
	if len(got["cam-b"]) != 0 {
		t.Errorf("cam-b answered a rollout for cam-a")
	}
	n := hub.alertCount("cam-a")
	devs["cam-a"].feed.addNoise(3)
	devs["cam-b"].feed.addNoise(3)
	waitFor(t, "alerts from the new model", 30*time.Second, func() bool {
		hub.mu.Lock()
		defer hub.mu.Unlock()
		for _, m := range hub.alerts["cam-a"][n:] {
			if m.Model.SHA256 == newSHA {
				return true
			}
		}
		return false
	})
	waitFor(t, "cam-b alerting on noise", 30*time.Second, func() bool { return hub.alertCount("cam-b") > 0 })
	hub.mu.Lock()
	for _, m := range hub.alerts["cam-b"] {
		if m.Model.SHA256 != configuredSHA {
			t.Errorf("cam-b alert from model %s, want the configured one", m.Model.SHA256)
		}
	}
	if st := hub.status["cam-a"]; st.Model.SHA256 != newSHA {
		t.Errorf("cam-a status names model %s, want the rolled-out %s", st.Model.SHA256, newSHA)
	}
	hub.mu.Unlock()

	// 5. A release that fails the self-test never goes live: cam-a stays
	// on v1 and says so.
	strict, _ := hub.release("v2", "fashion_mnist_cnn_int8", func(c *ood.Calibration) { c.Threshold = 50; *c.EnergyThreshold = -50 })
	id = hub.send(control.Device("cam-a"), control.TypeRollout, &control.RolloutArgs{Manifest: strict})
	if r := hub.final(id, "cam-a"); r.Stage != string(rollout.PhaseFailed) || !strings.Contains(r.Message, "self-test") {
		t.Errorf("miscalibrated release ended with %+v, want a failed self-test", r)
	}
	id = hub.send(control.Device("cam-a"), control.TypeReportConfig, nil)
	if s := settingsOf(t, hub.final(id, "cam-a")); s.Model.SHA256 != newSHA || s.Version != "v1" || s.Rollout.Phase != string(rollout.PhaseFailed) {
		t.Errorf("after the failed rollout cam-a reports model %s version %q rollout %+v, want v1 (%s) and failed", s.Model.SHA256, s.Version, s.Rollout, newSHA)
	}

	// 6. A release that passes the self-test but flags the camera's
	// frames once live is rolled back to v1 after the first frames.
	n = hub.alertCount("cam-a")
	devs["cam-a"].feed.addNoise(100000) // from now on
	waitFor(t, "cam-a alerting on the noise", 30*time.Second, func() bool { return hub.alertCount("cam-a") >= n+3 })
	noisy, noisySHA := hub.release("v3", "fashion_mnist_cnn_energy_int8", nil)
	id = hub.send(control.Device("cam-a"), control.TypeRollout, &control.RolloutArgs{Manifest: noisy})
	r = hub.final(id, "cam-a")
	if r.Stage != string(rollout.PhaseRolledBack) || !strings.Contains(r.Message, "out-of-distribution rate") {
		t.Fatalf("release on a noisy camera ended with %+v, want rolled back", r)
	}
	n = hub.alertCount("cam-a")
	// Alerts of the watched frames may still be on their way; the later
	// ones come from v1.
	waitFor(t, "alerts after the rollback", 30*time.Second, func() bool { return hub.alertCount("cam-a") > n+3 })
	hub.mu.Lock()
	if last := hub.alerts["cam-a"][len(hub.alerts["cam-a"])-1]; last.Model.SHA256 != newSHA || last.Model.SHA256 == noisySHA {
		t.Errorf("after the rollback cam-a alerts with %s, want v1 %s", last.Model.SHA256, newSHA)
	}
	hub.mu.Unlock()
}

// TestFleetRolloutKill9MidSwap kills the agent while a rolled-out model is
// live but not yet committed: after a restart it runs the old model.
func TestFleetRolloutKill9MidSwap(t *testing.T) {
	hub := newFleetHub(t, startBroker(t).URL())
	agent := startKillable(t, hub, "cam-k", func(c *config.Config) { c.Control.Rollout.WatchFrames = 1_000_000 }) // never decided
	_, configuredSHA, _ := zooModel(t)

	manifest, newSHA := hub.release("v1", "fashion_mnist_cnn_energy", nil)
	id := hub.send(control.Device("cam-k"), control.TypeRollout, &control.RolloutArgs{Manifest: manifest})
	hub.await(id, "the new model watched", func(byDev map[string][]control.Result) bool {
		rs := byDev["cam-k"]
		return len(rs) > 0 && (rs[len(rs)-1].Stage == string(rollout.PhaseWatching) || !rs[len(rs)-1].OK)
	})
	waitFor(t, "status naming the new model", 30*time.Second, func() bool {
		hub.mu.Lock()
		defer hub.mu.Unlock()
		return hub.status["cam-k"].Model.SHA256 == newSHA
	})
	// The new model is live: its alerts would name it. Kill now.
	agent.kill9AndRestart(nil)
	hub.mu.Lock()
	st := hub.status["cam-k"]
	hub.mu.Unlock()
	if st.Model.SHA256 != configuredSHA {
		t.Errorf("after kill -9 mid-rollout the agent runs %s, want the old model %s", st.Model.SHA256, configuredSHA)
	}
	id = hub.send(control.Device("cam-k"), control.TypeReportConfig, nil)
	s := settingsOf(t, hub.final(id, "cam-k"))
	if s.Model.SHA256 != configuredSHA || s.Rollout.Phase != string(rollout.PhaseRolledBack) || !strings.Contains(s.Rollout.Reason, "restarted") {
		t.Errorf("after the restart: model %s, rollout %+v; want the old model and rolled_back", s.Model.SHA256, s.Rollout)
	}
}

// killableAgent is one controlled agent in a child process, fed with
// in-distribution frames.
type killableAgent struct {
	t      *testing.T
	hub    *fleetHub
	device string
	start  func() *exec.Cmd
	cmd    *exec.Cmd
}

// startKillable starts the agent for device (edit, if set, changes its
// configuration) and waits until it is online.
func startKillable(t *testing.T, hub *fleetHub, device string, edit func(*config.Config)) *killableAgent {
	t.Helper()
	frames, state := t.TempDir(), t.TempDir()
	cfg := hub.agentConfig(t, device, frames, state)
	if edit != nil {
		edit(cfg)
	}
	k := &killableAgent{t: t, hub: hub, device: device, start: childAgents(t, state, cfg)}
	k.cmd = k.start()
	t.Cleanup(func() { k.cmd.Process.Kill(); k.cmd.Wait() })
	startFeeder(t, frames, 100*time.Millisecond)
	hub.waitOnline(device)
	return k
}

// kill9AndRestart kills the agent with SIGKILL, runs between (with the
// hub locked), starts it again and waits until it is online.
func (k *killableAgent) kill9AndRestart(between func()) {
	k.t.Helper()
	k.cmd.Process.Signal(syscall.SIGKILL)
	k.cmd.Wait()
	k.hub.mu.Lock()
	delete(k.hub.status, k.device)
	if between != nil {
		between()
	}
	k.hub.mu.Unlock()
	k.cmd = k.start()
	k.hub.waitOnline(k.device)
}

func zooModel(t *testing.T) (name, sha string, calib *ood.Calibration) {
	t.Helper()
	f, c, err := zoo.Open(zoo.Default)
	if err != nil {
		t.Fatal(err)
	}
	return zoo.Default, f.SHA256(), c
}

func stageList(rs []control.Result) []string {
	var s []string
	for _, r := range rs {
		if len(s) == 0 || s[len(s)-1] != r.Stage {
			s = append(s, r.Stage)
		}
	}
	return s
}

// TestFleetRolloutKill9MidDownload kills the agent while it downloads a
// model: it restarts on the old model, and the rollout sent again resumes
// the download where it stopped and goes live.
func TestFleetRolloutKill9MidDownload(t *testing.T) {
	hub := newFleetHub(t, startBroker(t).URL())
	hub.stallAfter = 20000
	agent := startKillable(t, hub, "cam-d", nil)
	_, configuredSHA, _ := zooModel(t)

	manifest, newSHA := hub.release("v1", "fashion_mnist_cnn_energy", nil)
	hub.send(control.Device("cam-d"), control.TypeRollout, &control.RolloutArgs{Manifest: manifest})
	waitFor(t, "the download hanging half way", 30*time.Second, func() bool {
		hub.mu.Lock()
		defer hub.mu.Unlock()
		return hub.stalled
	})
	time.Sleep(200 * time.Millisecond) // the agent writes what it got
	agent.kill9AndRestart(func() { hub.stallAfter = 0 })
	id := hub.send(control.Device("cam-d"), control.TypeReportConfig, nil)
	s := settingsOf(t, hub.final(id, "cam-d"))
	if s.Model.SHA256 != configuredSHA || s.Rollout.Phase != string(rollout.PhaseFailed) || !strings.Contains(s.Rollout.Reason, "restarted") {
		t.Fatalf("after kill -9 mid-download: model %s, rollout %+v; want the old model and failed", s.Model.SHA256, s.Rollout)
	}

	id = hub.send(control.Device("cam-d"), control.TypeRollout, &control.RolloutArgs{Manifest: manifest})
	if r := hub.final(id, "cam-d"); r.Stage != string(rollout.PhaseCommitted) {
		t.Fatalf("rollout sent again ended with %+v", r)
	}
	hub.mu.Lock()
	defer hub.mu.Unlock()
	if !slices.Contains(hub.ranges, "/models/v1/model.tflite bytes=20000-") {
		t.Errorf("the second download did not resume at byte 20000; requests %q", hub.ranges)
	}
	if st := hub.status["cam-d"]; st.Model.SHA256 != newSHA {
		t.Errorf("status names model %s after the rollout, want %s", st.Model.SHA256, newSHA)
	}
}
