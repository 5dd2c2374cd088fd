package hub_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserCommands: an operator logged in with the ?token= link
// presses Pause on a device page; the real agent control service applies
// it, and the page shows the audit entry with the device's result. The
// commands page shows the key agents must trust.
func TestBrowserCommands(t *testing.T) {
	chrome := chromium(t)
	const prefix = "ood"
	ctx, broker, signer, a := startFleet(t, prefix)
	cam := startDevice(t, ctx, broker.URL(), prefix, "cam-a", signer.PublicKey())
	publishStatus(t, ctx, broker.URL(), prefix, "cam-a")
	waitDevices(t, a, 2)

	bctx := newBrowser(t, ctx, chrome, t.TempDir())
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	do(chromedp.Navigate(a.base+"/devices/cam-a?token="+a.token), chromedp.WaitVisible(css(`#commands`)))
	do(chromedp.Click(css(`form input[value=pause] ~ button`)), chromedp.WaitVisible(css(`tr.command`)))
	location := run(t, bctx, chromedp.Location())
	if !strings.Contains(location, "/devices/cam-a?sent=c-") {
		t.Errorf("after the button: %s", location)
	}
	// The result arrives over MQTT after the redirect: reload until the
	// page shows it.
	var result string
	for deadline := time.Now().Add(15 * time.Second); ; {
		result = run(t, bctx, chromedp.Evaluate[string](`(() => { const r = document.querySelector('tr.command .result[data-device="cam-a"]'); return r ? r.textContent : ""; })()`))
		if result != "" || time.Now().After(deadline) {
			break
		}
		do(chromedp.Reload(), chromedp.WaitVisible(css(`tr.command`)))
	}
	entry := run(t, bctx, chromedp.Text(css("tr.command")))
	saveShot(t, "device-commands.png", run(t, bctx, chromedp.FullScreenshot(100)))
	if !strings.Contains(result, "cam-a: ok") || !strings.Contains(result, "applied pause") {
		t.Errorf("result on the device page: %q", result)
	}
	if !strings.Contains(entry, "pause") || !strings.Contains(entry, "browser-session") || !strings.Contains(entry, "device/cam-a") {
		t.Errorf("audit entry: %q", entry)
	}
	if ids := cam.appliedIDs(); len(ids) != 1 || !strings.Contains(location, ids[0]) {
		t.Errorf("cam-a applied %v; the page named %s", ids, location)
	}

	do(chromedp.Navigate(a.base+"/commands"), chromedp.WaitVisible(css("pre.key")))
	key := run(t, bctx, chromedp.Text(css("pre.key")))
	if !strings.Contains(key, signer.PublicKey()) {
		t.Errorf("commands page key block %q lacks %s", key, signer.PublicKey())
	}

	// Upload a zoo release and roll it out to cam-a from the rollout page.
	modelFile, _ := filepath.Abs("../model/zoo/fashion_mnist_cnn.tflite")
	calFile, _ := filepath.Abs("../model/zoo/fashion_mnist_cnn.calibration.json")
	do(chromedp.Navigate(a.base+"/rollouts"), chromedp.WaitVisible(css("form.upload")),
		chromedp.SendKeys(css(`form.upload input[name=version]`), "v1"),
		chromedp.SetUploadFiles(css(`form.upload input[name=model]`), []string{modelFile}),
		chromedp.SetUploadFiles(css(`form.upload input[name=calibration]`), []string{calFile}),
		chromedp.Click(css(`form.upload button`)), chromedp.WaitReady(css(`form.start select[name=model] option[value=v1]`)))
	do(chromedp.SendKeys(css(`form.start input[name=value]`), "cam-a"), chromedp.Click(css(`form.start button`)),
		chromedp.WaitVisible(css(`section.rollout`)))
	var progress string
	for deadline := time.Now().Add(15 * time.Second); ; {
		progress = run(t, bctx, chromedp.Evaluate[string](`(() => { const r = document.querySelector('section.rollout li[data-device="cam-a"]'); return r ? r.textContent : ""; })()`))
		if strings.Contains(progress, "accepted") || time.Now().After(deadline) {
			break
		}
		do(chromedp.Reload(), chromedp.WaitVisible(css(`section.rollout`)))
	}
	saveShot(t, "rollouts.png", run(t, bctx, chromedp.FullScreenshot(100)))
	if !strings.Contains(progress, "cam-a: accepted") {
		t.Errorf("rollout progress on the page: %q", progress)
	}
	if ids := cam.appliedIDs(); len(ids) != 2 {
		t.Errorf("cam-a applied %v, want the pause and the rollout", ids)
	}
}

// TestBrowserFeedback: an operator on the alerts page types the true
// class of an alert and presses "false alarm"; the real feedback service
// of the device labels its store, and the page shows the device's answer.
func TestBrowserFeedback(t *testing.T) {
	chrome := chromium(t)
	const prefix = "ood"
	ctx, broker, signer, a := startFleet(t, prefix)
	// The hub has subscribed once it has the probe's retained status:
	// alerts published before that would not reach it.
	waitDevices(t, a, 1)
	_, _, st, alerts := startFeedbackDevice(t, ctx, broker.URL(), prefix, "cam-f", signer.PublicKey())
	waitAlerts(t, a, "cam-f", 3)

	bctx := newBrowser(t, ctx, chrome, t.TempDir())
	row := `tr.alert-row:has(a[href="/api/v1/alerts/` + alerts[0].ID + `"])`
	if err := chromedp.Do(bctx,
		chromedp.Navigate(a.base+"/alerts?device=cam-f&token="+a.token), chromedp.WaitVisible(chromedp.CSS(row+` td.verdict form`)),
		chromedp.SendKeys(chromedp.CSS(row+` input[name=class]`), "Coat"),
		chromedp.Click(chromedp.CSS(row+` button[value=false_alarm]`)),
		chromedp.WaitVisible(chromedp.CSS(row+` td.verdict span`)),
	); err != nil {
		t.Fatal(err)
	}
	if loc := run(t, bctx, chromedp.Location()); !strings.HasSuffix(loc, "/alerts?device=cam-f") {
		t.Errorf("after the button: %s", loc)
	}
	var verdict string
	for deadline := time.Now().Add(15 * time.Second); ; {
		verdict = run(t, bctx, chromedp.Text(chromedp.CSS(row+` td.verdict`)))
		if strings.Contains(verdict, "applied") || time.Now().After(deadline) {
			break
		}
		if err := chromedp.Do(bctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(row+` td.verdict span`))); err != nil {
			t.Fatal(err)
		}
	}
	saveShot(t, "alerts-feedback.png", run(t, bctx, chromedp.FullScreenshot(100)))
	if verdict != "false alarm (Coat): applied" {
		t.Errorf("verdict on the alerts page: %q", verdict)
	}
	// The device page lists the alert with its verdict, and buttons for
	// the others.
	if err := chromedp.Do(bctx, chromedp.Navigate(a.base+"/devices/cam-f"), chromedp.WaitVisible(chromedp.CSS(`#alerts`))); err != nil {
		t.Fatal(err)
	}
	items := run(t, bctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('li.alert div.verdict')).map(v => v.querySelector('form') ? 'buttons' : v.textContent.trim()).join('|')`))
	if items != "buttons|buttons|false alarm (Coat): applied" {
		t.Errorf("verdicts on the device page: %q", items)
	}
	for _, e := range st.List() {
		if e.AlertID == alerts[0].ID && (e.Label == nil || e.Label.Kind != "false_alarm" || e.Label.Class != "Coat") {
			t.Errorf("label in the device's store: %+v", e.Label)
		}
	}
}
