package hub_test

import (
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
}
