package hub_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/hub"
	"github.com/ood-agent/ood-agent/hub/ingest"
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
)

// TestRunTLS serves the UI and API over HTTPS (hub.tls) and answers the
// token over it; the database comes up before the broker does.
func TestRunTLS(t *testing.T) {
	dir := t.TempDir()
	certs, err := mosquittotest.WriteCerts(filepath.Join(dir, "certs"))
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := runHub(t, hub.Config{
		Database: "sqlite://" + filepath.Join(dir, "hub.db"), Listen: "127.0.0.1:0", Token: "tls-token",
		TLSCert: certs.ServerCertFile, TLSKey: certs.ServerKeyFile,
		// No broker listens here: ingest keeps retrying, the web side works.
		Ingest: ingest.Options{Broker: "tcp://127.0.0.1:1", Prefix: "ood"},
	})
	ca, _ := os.ReadFile(certs.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", "https://"+addr+"/api/v1/devices", nil)
	req.Header.Set("Authorization", "Bearer tls-token")
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("https API: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP answered on the TLS listener")
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// runHub starts hub.Run with cfg and returns the HTTP address once it
// listens, and a function that stops the hub and returns Run's error.
func runHub(t *testing.T, cfg hub.Config) (addr string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	cfg.Ready = func(a net.Addr) { ready <- a }
	go func() { done <- hub.Run(ctx, cfg) }()
	select {
	case a := <-ready:
		addr = a.String()
	case err := <-done:
		t.Fatal(err)
	}
	return addr, func() error {
		cancel()
		return <-done
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	for name, cfg := range map[string]hub.Config{
		"database": {Database: "mysql://x", Listen: "127.0.0.1:0", Token: "t", Ingest: ingest.Options{Broker: "tcp://127.0.0.1:1", Prefix: "ood"}},
		"token":    {Database: "sqlite://" + filepath.Join(dir, "a.db"), Listen: "127.0.0.1:0", Ingest: ingest.Options{Broker: "tcp://127.0.0.1:1", Prefix: "ood"}},
		"prefix":   {Database: "sqlite://" + filepath.Join(dir, "b.db"), Listen: "127.0.0.1:0", Token: "t", Ingest: ingest.Options{Broker: "tcp://127.0.0.1:1", Prefix: "a/+"}},
		"listen":   {Database: "sqlite://" + filepath.Join(dir, "c.db"), Listen: "nowhere", Token: "t", Ingest: ingest.Options{Broker: "tcp://127.0.0.1:1", Prefix: "ood"}},
	} {
		err := hub.Run(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: Run = %v, want an error naming it", name, err)
		}
	}
}

// TestHealthzMQTTState follows the broker connection on /healthz: no
// subscription yet while the broker is down at start, subscribed once it
// is up, disconnected (the session kept) when it goes away — all with
// status 200, as the UI keeps working.
func TestHealthzMQTTState(t *testing.T) {
	broker := mosquittotest.Start(t)
	broker.Stop()
	addr, stop := runHub(t, hub.Config{
		Database: "sqlite://" + filepath.Join(t.TempDir(), "hub.db"), Listen: "127.0.0.1:0", Token: "t",
		Ingest: ingest.Options{Broker: broker.URL(), Prefix: "ood", ClientID: "health-test"},
	})
	health := func() (status, mqtt string) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz: %d %v", resp.StatusCode, err)
		}
		return h["status"], h["mqtt"]
	}
	waitFor := func(wantStatus, wantMQTT string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			status, mqtt := health()
			if status == wantStatus && mqtt == wantMQTT {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("healthz: status %q, mqtt %q; want %q, %q", status, mqtt, wantStatus, wantMQTT)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if status, mqtt := health(); status != "degraded" || mqtt != "connecting" {
		t.Errorf("broker down at start: status %q, mqtt %q; want degraded, connecting", status, mqtt)
	}
	broker.Restart()
	waitFor("ok", "subscribed")
	broker.Stop()
	waitFor("degraded", "disconnected")
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}
