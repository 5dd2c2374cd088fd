//go:build hub

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/demo"
	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/config"
)

// TestHubCommand runs `ood-agent hub --config` against a broker, publishes
// an alert as an agent does, and reads it back through the API with the
// token from the token file.
func TestHubCommand(t *testing.T) {
	broker, err := demo.StartBroker(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("tok-123\n"), 0o600)
	cfgFile := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`hub:
  listen: 127.0.0.1:0
  database: sqlite://%s/hub.db
  token_file: %s
  mqtt:
    broker: %s
    client_id: hub-cmd-test
`, dir, tokenFile, broker.URL())), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	cmd := newRootCommand()
	cmd.SetArgs([]string{"hub", "--config", cfgFile})
	cmd.SetErr(pw)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx); pw.Close() }()
	base := waitForURL(t, pr, regexp.MustCompile(`url=(http://\S+/)`))
	go io.Copy(io.Discard, pr)

	pub, err := mqtt.New(mqtt.Options{Broker: broker.URL(), ClientID: "agent", KeepAlive: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	go pub.Run(ctx)
	if err := pub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	ids := event.NewIDGenerator(nil)
	m := event.Message{Type: event.TypeAlert, ID: ids.New(), DeviceID: "cam-9", Time: time.Now(), Origin: "x.png",
		Verdict: event.Verdict{LabelName: "Bag", Confidence: 0.3, Energy: -2, Score: 2, Threshold: 7, Method: "energy"}, Model: event.Model{Name: "m.tflite", SHA256: strings.Repeat("ab", 32)}}
	payload, _ := json.Marshal(m)
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Published until the hub has subscribed and stored it.
		if err := pub.Publish(ctx, "ood/cam-9/alert", payload, 1, false); err != nil {
			t.Fatal(err)
		}
		code, body := apiGet(t, base+"api/v1/alerts/"+m.ID, "tok-123")
		if code == 200 && strings.Contains(body, m.ID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alert not served: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _ := apiGet(t, base+"api/v1/devices", "wrong"); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("hub: %v", err)
	}
}

// TestHubDemo runs `ood-agent demo --hub`: three real agents on the
// bundled frames, the embedded broker and the hub; the printed URL's
// token opens the API, which lists the three cameras, with alerts.
func TestHubDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	cmd := newRootCommand()
	cmd.SetArgs([]string{"demo", "--hub", "--listen", "127.0.0.1:0"})
	cmd.SetOut(pw)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx); pw.Close() }()
	login := waitForURL(t, pr, regexp.MustCompile(`(http://\S+/\?token=\S+)`))
	go io.Copy(io.Discard, pr)
	base, token, _ := strings.Cut(login, "?token=")

	deadline := time.Now().Add(90 * time.Second)
	for {
		code, body := apiGet(t, base+"api/v1/devices", token)
		var out struct {
			Devices []struct {
				ID        string
				Online    bool
				Alerts24h []int `json:"alerts_per_hour_24h"`
			}
		}
		json.Unmarshal([]byte(body), &out)
		alerting := 0
		for _, d := range out.Devices {
			n := 0
			for _, c := range d.Alerts24h {
				n += c
			}
			if d.Online && n > 0 {
				alerting++
			}
		}
		if code == 200 && len(out.Devices) == 3 && alerting >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo fleet not there: %d %s", code, body)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Control is on and the cameras trust the hub: an operator's label of
	// an alert reaches its camera's feedback store, which answers.
	var info struct{ Enabled bool }
	if code, body := apiGet(t, base+"api/v1/control", token); code != 200 || json.Unmarshal([]byte(body), &info) != nil || !info.Enabled {
		t.Fatalf("control: %d %s", code, body)
	}
	// Three labels of one camera start its adaptation (adapt.min_labels
	// is 3 in the demo), whose stages reach the hub.
	var alerts struct {
		Alerts []struct {
			ID       string
			DeviceID string `json:"device_id"`
		}
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		_, body := apiGet(t, base+"api/v1/alerts?type=alert&device=cam-yard&limit=3", token)
		if json.Unmarshal([]byte(body), &alerts); len(alerts.Alerts) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than three alerts of cam-yard: %s", body)
		}
	}
	for _, a := range alerts.Alerts {
		req, _ := http.NewRequest("POST", base+"api/v1/alerts/"+a.ID+"/feedback", strings.NewReader(`{"label":"confirmed"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST feedback: %d", resp.StatusCode)
		}
	}
	for _, a := range alerts.Alerts {
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			_, body := apiGet(t, base+"api/v1/alerts/"+a.ID+"/feedback", token)
			var fb struct {
				Feedback *struct{ Results []struct{ OK bool } }
			}
			if json.Unmarshal([]byte(body), &fb) == nil && fb.Feedback != nil && len(fb.Feedback.Results) == 1 && fb.Feedback.Results[0].OK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the camera did not apply the label: %s", body)
			}
		}
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		_, body := apiGet(t, base+"api/v1/devices/cam-yard/adaptations", token)
		var ads struct {
			Adaptations []struct{ Stage, Version string }
		}
		if json.Unmarshal([]byte(body), &ads) == nil && len(ads.Adaptations) > 0 {
			t.Logf("cam-yard adapted: %+v", ads.Adaptations)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no adaptation of cam-yard reached the hub: %s", body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo: %v", err)
	}
}

func waitForURL(t *testing.T, r io.Reader, re *regexp.Regexp) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				return
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("no URL printed")
		return ""
	}
}

func apiGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestHubConfigControl: hub.control.key_file turns on signing with that
// key; a key file others can read, or a missing one, is an error naming
// the setting.
func TestHubConfigControl(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("OOD_AGENT_HUB_TOKEN", "tok")
	key, err := control.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "signing.key")
	if err := control.WritePrivateKey(keyFile, key); err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultHub()
	cfg.Hub.Control.KeyFile = keyFile
	cfg.Hub.PublicURL = "https://hub.example"
	hc, err := hubConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if hc.Signer == nil || hc.Signer.PublicKey() != control.NewSigner(key).PublicKey() || hc.PublicURL != "https://hub.example" || hc.DataDir == "" {
		t.Errorf("hub config = %+v", hc)
	}
	os.Chmod(keyFile, 0o644)
	cfg.Hub.Control.KeyFile = keyFile
	if _, err := hubConfig(cfg); err == nil || !strings.Contains(err.Error(), "hub.control.key_file") {
		t.Errorf("readable key: %v", err)
	}
	cfg.Hub.Control.KeyFile = filepath.Join(dir, "missing.key")
	if _, err := hubConfig(cfg); err == nil || !strings.Contains(err.Error(), "hub.control.key_file") {
		t.Errorf("missing key: %v", err)
	}
	cfg.Hub.Control.KeyFile = ""
	if hc, err := hubConfig(cfg); err != nil || hc.Signer != nil {
		t.Errorf("no key: %+v, %v", hc.Signer, err)
	}
}
