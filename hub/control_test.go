package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/rollout"
	"github.com/ood-agent/ood-agent/hub"
	"github.com/ood-agent/ood-agent/hub/ingest"
	"github.com/ood-agent/ood-agent/hub/internal/agentsim"
	"github.com/ood-agent/ood-agent/hub/web"
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
	"github.com/ood-agent/ood-agent/model/ood"
)

// device is an agent's control side: a real control.Service on the
// broker with a Handler that records what it applied.
type device struct {
	mu      sync.Mutex
	applied []control.Command
}

func (d *device) Apply(_ context.Context, c control.Command) (control.Outcome, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.applied = append(d.applied, c)
	if c.Type == control.TypeRollout {
		return control.Outcome{Stage: "accepted"}, nil
	}
	return control.Outcome{Message: "applied " + string(c.Type), Settings: map[string]any{"paused": c.Type == control.TypePause}}, nil
}

func (d *device) appliedIDs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []string
	for _, c := range d.applied {
		ids = append(ids, c.ID)
	}
	return ids
}

// startDevice runs a control.Service for id, trusting trustedKey as an
// operator would paste it from the hub.
func startDevice(t *testing.T, ctx context.Context, broker, prefix, id, trustedKey string, groups ...string) *device {
	t.Helper()
	ring, err := control.ParseKeyRing([]string{trustedKey})
	if err != nil {
		t.Fatal(err)
	}
	v, err := control.NewVerifier(control.VerifierOptions{Keys: ring, Device: id, Groups: groups, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := agentsim.Connect(ctx, broker, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	d := &device{}
	s, err := control.NewService(control.ServiceOptions{Prefix: prefix, Verifier: v, Handler: d, Transport: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	go s.Run(ctx)
	return d
}

// api is an HTTP client of a running hub.
type api struct {
	t     *testing.T
	base  string
	token string
}

func (a api) do(method, path, contentType string, body []byte, out any) int {
	a.t.Helper()
	req, err := http.NewRequest(method, a.base+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			a.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// send posts a command and returns its id.
func (a api) send(path, body string) string {
	a.t.Helper()
	var out struct{ ID, Error string }
	if code := a.do("POST", path, "application/json", []byte(body), &out); code != http.StatusAccepted || out.ID == "" {
		a.t.Fatalf("POST %s %s: %d %+v", path, body, code, out)
	}
	return out.ID
}

// results polls GET /api/v1/commands until command id has answers from
// want devices.
func (a api) results(id string, want int) web.CommandJSON {
	a.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var out struct{ Commands []web.CommandJSON }
		a.do("GET", "/api/v1/commands?limit=1000", "", nil, &out)
		i := slices.IndexFunc(out.Commands, func(c web.CommandJSON) bool { return c.ID == id })
		if i >= 0 && len(out.Commands[i].Results) >= want {
			return out.Commands[i]
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("command %s: no %d results in %+v", id, want, out.Commands)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startHub runs a hub with fleet control on against broker.
func startHub(t *testing.T, ctx context.Context, broker, prefix string, signer *control.Signer) api {
	t.Helper()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- hub.Run(ctx, hub.Config{
			Database: "sqlite://" + filepath.Join(t.TempDir(), "hub.db"), Listen: "127.0.0.1:0", Token: "ctl-token",
			Signer: signer, DataDir: t.TempDir(),
			Ingest: ingest.Options{Broker: broker, Prefix: prefix, ClientID: "hub-" + t.Name()},
			Ready:  func(a net.Addr) { ready <- a },
		})
	}()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("hub.Run: %v", err)
		}
	})
	select {
	case a := <-ready:
		return api{t: t, base: "http://" + a.String(), token: "ctl-token"}
	case err := <-done:
		t.Fatal(err)
	}
	return api{}
}

// startFleet starts a broker with a retained status of device "probe",
// and a hub with a new signing key on it.
func startFleet(t *testing.T, prefix string) (context.Context, *mosquittotest.Broker, *control.Signer, api) {
	t.Helper()
	broker := mosquittotest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	key, err := control.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	signer := control.NewSigner(key)
	publishStatus(t, ctx, broker.URL(), prefix, "probe")
	a := startHub(t, ctx, broker.URL(), prefix, signer)
	t.Cleanup(cancel) // before startHub's cleanup, which waits for the hub
	return ctx, broker, signer, a
}

// TestCommandsThroughTheHub sends commands through the API to two real
// agents' control services on a real broker: each command is applied by
// the devices it names only, and their results come back into the audit
// log.
func TestCommandsThroughTheHub(t *testing.T) {
	const prefix = "ood/site"
	ctx, broker, signer, a := startFleet(t, prefix)

	// The operator copies the trusted key from the API into the agents.
	var info web.ControlJSON
	if a.do("GET", "/api/v1/control", "", nil, &info); !info.Enabled || info.TrustedKey != signer.PublicKey() {
		t.Fatalf("control info = %+v, want the signer's key", info)
	}
	camA := startDevice(t, ctx, broker.URL(), prefix, "cam-a", info.TrustedKey)
	camB := startDevice(t, ctx, broker.URL(), prefix, "cam-b", info.TrustedKey, "lobby")
	waitDevices(t, a, 1)

	pause := a.send("/api/v1/devices/cam-a/commands", `{"type":"pause","ttl_s":60}`)
	got := a.results(pause, 1)
	var settings struct{ Paused bool }
	if r := got.Results[0]; r.Device != "cam-a" || !r.OK || r.Message != "applied pause" || json.Unmarshal(r.Settings, &settings) != nil || !settings.Paused {
		t.Errorf("pause result = %+v (settings %s)", r, r.Settings)
	}
	if got.Operator != "api-token" || got.Target != "device/cam-a" || got.TTLS != 60 {
		t.Errorf("audit entry = %+v", got)
	}

	threshold := a.send("/api/v1/groups/lobby/commands", `{"type":"set_threshold","args":{"threshold":7.5}}`)
	if got := a.results(threshold, 1); got.Results[0].Device != "cam-b" || !got.Results[0].OK {
		t.Errorf("group result = %+v", got.Results)
	}
	all := a.send("/api/v1/commands", `{"type":"snapshot"}`)
	if got := a.results(all, 2); got.Results[0].Device != "cam-a" || got.Results[1].Device != "cam-b" {
		t.Errorf("fleet results = %+v", got.Results)
	}
	if ids := camA.appliedIDs(); !slices.Equal(ids, []string{pause, all}) {
		t.Errorf("cam-a applied %v, want %v", ids, []string{pause, all})
	}
	if ids := camB.appliedIDs(); !slices.Equal(ids, []string{threshold, all}) {
		t.Errorf("cam-b applied %v, want %v", ids, []string{threshold, all})
	}

	// ?device= lists what reached one device.
	var mine struct{ Commands []web.CommandJSON }
	a.do("GET", "/api/v1/commands?device=cam-b", "", nil, &mine)
	if len(mine.Commands) != 2 || mine.Commands[0].ID != all || mine.Commands[1].ID != threshold {
		t.Errorf("commands of cam-b = %+v", mine.Commands)
	}

	// What every agent would refuse is refused before it is signed.
	for _, body := range []string{`{"type":"set_threshold","args":{"target_tpr":2}}`, `{"type":"pause","args":{"x":1}}`, `{"type":"shutdown"}`, `{"type":"pause","oops":1}`} {
		var out struct{ Error string }
		if code := a.do("POST", "/api/v1/devices/cam-a/commands", "application/json", []byte(body), &out); code != http.StatusBadRequest || out.Error == "" {
			t.Errorf("%s: %d %q, want 400 with a reason", body, code, out.Error)
		}
	}
	var log struct{ Commands []web.CommandJSON }
	if a.do("GET", "/api/v1/commands", "", nil, &log); len(log.Commands) != 3 {
		t.Errorf("audit log has %d entries, want 3 (refused requests are not signed)", len(log.Commands))
	}
	// No token, no commands.
	resp, err := http.Post(a.base+"/api/v1/commands", "application/json", strings.NewReader(`{"type":"pause"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("command without a token: %d", resp.StatusCode)
	}
}

// waitDevices returns once the hub lists n devices, known from the
// retained statuses published before: the hub subscribes to the result
// topic in the same request, and a result published before that would go
// unseen.
func waitDevices(t *testing.T, a api, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var out struct{ Devices []web.DeviceJSON }
		a.do("GET", "/api/v1/devices", "", nil, &out)
		if len(out.Devices) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub lists %d devices, want %d", len(out.Devices), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// publishStatus leaves a retained online status of device id on the
// broker.
func publishStatus(t *testing.T, ctx context.Context, broker, prefix, id string) {
	t.Helper()
	d, err := agentsim.NewDevice(prefix, id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := agentsim.Connect(ctx, broker, id+"-status")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if err := agentsim.Publish(ctx, c, d.Topics.Status(), d.Status(event.StateOnline, time.Now()), true); err != nil {
		t.Fatal(err)
	}
}

// upload posts a release as the rollout page's form does.
func (a api) upload(version string, model, cal []byte, out any) int {
	a.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("version", version)
	for field, data := range map[string][]byte{"model": model, "calibration": cal} {
		fw, _ := w.CreateFormFile(field, field)
		fw.Write(data)
	}
	w.Close()
	return a.do("POST", "/api/v1/models", w.FormDataContentType(), body.Bytes(), out)
}

// TestRolloutThroughTheHub uploads a zoo model with its calibration,
// checks the signed manifest the way agents do, refuses a tampered
// upload, serves the files with Range, and rolls the release out to a
// share of the fleet.
func TestRolloutThroughTheHub(t *testing.T) {
	const prefix = "ood"
	ctx, broker, signer, a := startFleet(t, prefix)
	devices := map[string]*device{}
	for _, id := range []string{"cam-a", "cam-b", "cam-c"} {
		devices[id] = startDevice(t, ctx, broker.URL(), prefix, id, signer.PublicKey())
		publishStatus(t, ctx, broker.URL(), prefix, id)
	}
	waitDevices(t, a, 4)

	model, err := os.ReadFile("../model/zoo/fashion_mnist_cnn.tflite")
	if err != nil {
		t.Fatal(err)
	}
	cal, err := os.ReadFile("../model/zoo/fashion_mnist_cnn.calibration.json")
	if err != nil {
		t.Fatal(err)
	}
	var rel web.ModelReleaseJSON
	if code := a.upload("v1", model, cal, &rel); code != http.StatusCreated {
		t.Fatalf("upload: %d %+v", code, rel)
	}
	ring, _ := control.ParseKeyRing([]string{signer.PublicKey()})
	man, err := rollout.ParseManifest(ring, rel.Manifest)
	if err != nil {
		t.Fatalf("the agents' check refuses the hub's manifest: %v", err)
	}
	if man.Version != "v1" || man.Model.SHA256 != ood.SHA256Hex(model) || man.Model.Size != int64(len(model)) || man.Calibration.URL != "models/v1/calibration.json" {
		t.Errorf("manifest = %+v", man)
	}
	// Another key's agents refuse it.
	other, _ := control.GenerateKey(nil)
	otherRing, _ := control.ParseKeyRing([]string{control.NewSigner(other).PublicKey()})
	if _, err := rollout.ParseManifest(otherRing, rel.Manifest); err == nil {
		t.Error("a manifest verified with a key the hub does not hold")
	}

	// A model changed after calibration is refused, as is the same
	// version twice.
	tampered := slices.Clone(model)
	tampered[len(tampered)/2] ^= 0xff
	var out struct{ Error string }
	if code := a.upload("v2", tampered, cal, &out); code != http.StatusUnprocessableEntity || !strings.Contains(out.Error, "calibration") {
		t.Errorf("tampered upload: %d %q, want 422 naming the calibration", code, out.Error)
	}
	if code := a.upload("v1", model, cal, &out); code != http.StatusConflict {
		t.Errorf("second v1: %d %q, want 409", code, out.Error)
	}

	// Agents fetch the files without a token, resuming with Range.
	req, _ := http.NewRequest("GET", a.base+"/"+man.Model.URL, nil)
	req.Header.Set("Range", "bytes=100-")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, model[100:]) {
		t.Errorf("ranged model download: %d, %d bytes", resp.StatusCode, len(body))
	}
	for _, path := range []string{"/models/v2/model.tflite", "/models/v1/hub.db", "/models/..%2fhub.db/model.tflite"} {
		if resp, err := http.Get(a.base + path); err != nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %v %v, want 404", path, resp.Status, err)
		}
	}

	// 50% of the four known devices is two, each sent its own command.
	var ro web.RolloutJSON
	if code := a.do("POST", "/api/v1/rollouts", "application/json", []byte(`{"model":"v1","target":{"percent":50}}`), &ro); code != http.StatusAccepted {
		t.Fatalf("rollout: %d %+v", code, ro)
	}
	if len(ro.Devices) != 2 || ro.Target != "percent" {
		t.Fatalf("rollout = %+v, want 2 devices", ro)
	}
	picked := []string{ro.Devices[0].Device, ro.Devices[1].Device}
	want := 0 // the probe has no control service and stays "sent"
	for _, id := range picked {
		if id != "probe" {
			want++
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		a.do("GET", "/api/v1/rollouts/"+ro.ID, "", nil, &ro)
		answered := 0
		for _, d := range ro.Devices {
			if d.Stage == "accepted" {
				answered++
			}
		}
		if answered == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout progress = %+v", ro.Devices)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A picked device reports the new model in its status: the rollout
	// shows it running there.
	first := picked[0]
	if first == "probe" {
		first = picked[1]
	}
	pub, err := agentsim.Connect(ctx, broker.URL(), first+"-switched")
	if err != nil {
		t.Fatal(err)
	}
	status := event.NewStatus(event.StateOnline, first, "v0.0.0-test", event.Model{Name: "cnn", SHA256: man.Model.SHA256}, time.Now())
	if err := agentsim.Publish(ctx, pub, prefix+"/"+first+"/status", status, true); err != nil {
		t.Fatal(err)
	}
	pub.Close(context.Background())
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		a.do("GET", "/api/v1/rollouts/"+ro.ID, "", nil, &ro)
		running := 0
		for _, d := range ro.Devices {
			if d.Running {
				running++
				if d.Device != first {
					t.Fatalf("%s shown running the release: %+v", d.Device, ro.Devices)
				}
			}
		}
		if running == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout progress = %+v, want %s running", ro.Devices, first)
		}
	}
	for id, d := range devices {
		applied := d.appliedIDs()
		if want := slices.Contains(picked, id); want != (len(applied) == 1) {
			t.Errorf("%s applied %v; picked %v", id, applied, picked)
		}
	}
	if code := a.do("POST", "/api/v1/rollouts", "application/json", []byte(`{"model":"v9","target":{"all":true}}`), &out); code != http.StatusNotFound {
		t.Errorf("rollout of an unknown model: %d", code)
	}
	if code := a.do("POST", "/api/v1/rollouts", "application/json", []byte(`{"model":"v1","target":{"all":true,"group":"x"}}`), &out); code != http.StatusBadRequest {
		t.Errorf("rollout with two targets: %d", code)
	}
}
