package hub_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/hub"
	"github.com/ood-agent/ood-agent/hub/ingest"
	"github.com/ood-agent/ood-agent/hub/internal/agentsim"
	"github.com/ood-agent/ood-agent/hub/store"
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
)

// chromium returns Debian's chromium, skipping the test when it is
// missing, except under CI=true, where that fails it.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium not found (install the Debian package chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestBrowser: agents publish to a real Mosquitto, the hub ingests, and a
// real headless Chromium logs in with the ?token= link and sees the
// devices, the drift badge, the device page with its evidence image and
// charts, and the alerts page. Set OOD_HUB_SCREENSHOTS to a directory to
// keep screenshots (desktop and phone width).
func TestBrowser(t *testing.T) {
	chrome := chromium(t)
	broker := mosquittotest.Start(t)
	dir := t.TempDir()
	const token = "browser-test-token"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _ := runHub(t, hub.Config{
		Database: "sqlite://" + filepath.Join(dir, "hub.db"), Listen: "127.0.0.1:0", Token: token,
		Ingest: ingest.Options{Broker: broker.URL(), ClientID: "hub-browser", Prefix: "ood", Evidence: true},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	base := "http://" + addr

	// Three agents: cam-b drifts (live energies above the calibration's).
	pub, err := agentsim.Connect(ctx, broker.URL(), "agents")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var evidenceID string
	total := 0
	s, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := []string{"cam-a", "cam-b", "cam-c"}
	publish := func(topic string, v any, retained bool) {
		t.Helper()
		if err := agentsim.Publish(ctx, pub, topic, v, retained); err != nil {
			t.Fatal(err)
		}
	}
	// The statuses are retained: once the hub has stored them all, its
	// subscription is live and no alert published after can miss it
	// (the HTTP side is ready before the MQTT side has subscribed).
	for i, id := range ids {
		d, _ := agentsim.NewDevice("ood", id)
		state := event.StateOnline
		if i == 2 {
			state = event.StateOffline
		}
		publish(d.Topics.Status(), d.Status(state, now), true)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		devs, _ := s.Devices(ctx)
		if len(devs) == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub stored %d of %d device statuses", len(devs), len(ids))
		}
	}
	for i, id := range ids {
		d, _ := agentsim.NewDevice("ood", id)
		median := -10.0
		if id == "cam-b" {
			median = -3
		}
		for m := 30; m >= 1; m-- {
			publish(d.Topics.Stats(), d.Stats(now.Add(-time.Duration(m)*time.Minute), 600, uint64(20+m+10*i), median+float64(m%3)/3), false)
		}
		for k := range 4 + 3*i {
			a := d.Alert(now.Add(-time.Duration(k*7) * time.Minute))
			if k == 0 {
				a.AttachEvidence(d.Topics, len(agentsim.JPEG))
				if err := pub.Publish(ctx, d.Topics.Evidence(a.ID), agentsim.JPEG, 1, false); err != nil {
					t.Fatal(err)
				}
				if id == "cam-b" {
					evidenceID = a.ID
				}
			}
			publish(d.Topics.Alert(), a, false)
			total++
		}
	}
	// Wait for the ingest through the hub's own database.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n, _ := s.CountAlerts(ctx)
		if _, err := s.Evidence(ctx, evidenceID); n == int64(total) && err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub stored %d of %d alerts", n, total)
		}
	}

	bctx := newBrowser(t, ctx, chrome, dir)

	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatal(err)
		}
	}

	do(chromedp.Navigate(base+"/?token="+token), chromedp.WaitVisible(css("tr.device")))
	location := run(t, bctx, chromedp.Location())
	fleet := run(t, bctx, chromedp.Text(css("table.fleet")))
	rows := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll("tr.device").length`))
	drift := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll(".badge.drift").length`))
	states := run(t, bctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("tr.device .state")).map(e => e.textContent).join(",")`))
	saveShot(t, "fleet.png", run(t, bctx, chromedp.FullScreenshot(100)))
	if strings.Contains(location, "token") {
		t.Errorf("the token stayed in the address bar: %s", location)
	}
	if rows != 3 || drift != 1 || states != "online,online,offline" {
		t.Errorf("fleet page: %d rows, %d drift badges, states %q\n%s", rows, drift, states, fleet)
	}
	for _, want := range []string{"cam-a", "cam-b", "cam-c", agentsim.Model.Name} {
		if !strings.Contains(fleet, want) {
			t.Errorf("fleet page lacks %q:\n%s", want, fleet)
		}
	}

	do(chromedp.Click(css(`a[href="/devices/cam-b"]`)), chromedp.WaitVisible(css("figure.chart svg")))
	heading := run(t, bctx, chromedp.Text(css("h1")))
	charts := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll("figure.chart svg").length`))
	imgWidth := run(t, bctx, chromedp.Poll[int](fmt.Sprintf(`(() => { const i = document.querySelector('img[src="/api/v1/evidence/%s"]'); return i && i.complete && i.naturalWidth; })()`, evidenceID)))
	saveShot(t, "device.png", run(t, bctx, chromedp.FullScreenshot(100)))
	if !strings.Contains(heading, "cam-b") || !strings.Contains(heading, "drift") || charts != 5 || imgWidth != 64 {
		t.Errorf("device page: heading %q, %d charts, evidence image width %d", heading, charts, imgWidth)
	}

	do(chromedp.Navigate(base+"/alerts"), chromedp.WaitVisible(css("tr.alert-row")))
	alertRows := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll("tr.alert-row").length`))
	do(chromedp.SetValue(css("select[name=device]"), "cam-c"), chromedp.Click(css("form.filters button")))
	do(chromedp.WaitReady(css(`select[name=device] option[selected]`)))
	camC := run(t, bctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("tr.alert-row td:nth-child(2)")).map(e => e.textContent).join(",")`))
	if alertRows != total {
		t.Errorf("alerts page shows %d rows, want %d", alertRows, total)
	}
	if want := strings.TrimSuffix(strings.Repeat("cam-c,", 10), ","); camC != want {
		t.Errorf("filtered to cam-c: %q", camC)
	}
	do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(base+"/"), chromedp.WaitVisible(css("tr.device")))
	saveShot(t, "fleet-phone.png", run(t, bctx, chromedp.FullScreenshot(100)))
}

// newBrowser starts a headless Chromium for the test, with a profile
// in dir; it closes with the test.
func newBrowser(t *testing.T, ctx context.Context, chrome, dir string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(filepath.Join(dir, "chromium")),
		chromedp.WindowSize(1280, 900),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	bctx, tcancel := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(tcancel)
	return bctx
}

func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func saveShot(t *testing.T, name string, data []byte) {
	dir := os.Getenv("OOD_HUB_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Error(err)
	}
}
