package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/hub"
	"github.com/ood-agent/ood-agent/hub/ingest"
	"github.com/ood-agent/ood-agent/hub/internal/agentsim"
	"github.com/ood-agent/ood-agent/hub/web"
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
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
	return control.Outcome{Message: "applied " + string(c.Type)}, nil
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
			Signer: signer,
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

// TestCommandsThroughTheHub sends commands through the API to two real
// agents' control services on a real broker: each command is applied by
// the devices it names only, and their results come back into the audit
// log.
func TestCommandsThroughTheHub(t *testing.T) {
	broker := mosquittotest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const prefix = "ood/site"
	key, err := control.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	signer := control.NewSigner(key)
	publishProbe(t, ctx, broker.URL(), prefix)
	a := startHub(t, ctx, broker.URL(), prefix, signer)
	defer cancel()

	// The operator copies the trusted key from the API into the agents.
	var info web.ControlJSON
	if a.do("GET", "/api/v1/control", "", nil, &info); !info.Enabled || info.TrustedKey != signer.PublicKey() {
		t.Fatalf("control info = %+v, want the signer's key", info)
	}
	camA := startDevice(t, ctx, broker.URL(), prefix, "cam-a", info.TrustedKey)
	camB := startDevice(t, ctx, broker.URL(), prefix, "cam-b", info.TrustedKey, "lobby")
	waitSubscribed(t, a)

	pause := a.send("/api/v1/devices/cam-a/commands", `{"type":"pause","ttl_s":60}`)
	got := a.results(pause, 1)
	if r := got.Results[0]; r.Device != "cam-a" || !r.OK || r.Message != "applied pause" {
		t.Errorf("pause result = %+v", r)
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

// waitSubscribed returns once the hub's subscriptions are live: a
// retained status of a "probe" device, published before, shows up in
// the device list. The hub subscribes to the result topic in the same
// request, and a result published before that would go unseen.
func waitSubscribed(t *testing.T, a api) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var out struct{ Devices []web.DeviceJSON }
		a.do("GET", "/api/v1/devices", "", nil, &out)
		if slices.ContainsFunc(out.Devices, func(d web.DeviceJSON) bool { return d.ID == "probe" }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the hub did not subscribe")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// publishProbe leaves a retained status of device "probe" on the broker.
func publishProbe(t *testing.T, ctx context.Context, broker, prefix string) {
	t.Helper()
	d, err := agentsim.NewDevice(prefix, "probe")
	if err != nil {
		t.Fatal(err)
	}
	c, err := agentsim.Connect(ctx, broker, "probe")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if err := agentsim.Publish(ctx, c, d.Topics.Status(), d.Status(event.StateOnline, time.Now()), true); err != nil {
		t.Fatal(err)
	}
}
