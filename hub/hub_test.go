package hub_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- hub.Run(ctx, hub.Config{
			Database: "sqlite://" + filepath.Join(dir, "hub.db"), Listen: "127.0.0.1:0", Token: "tls-token",
			TLSCert: certs.ServerCertFile, TLSKey: certs.ServerKeyFile,
			// No broker listens here: ingest keeps retrying, the web side works.
			Ingest: ingest.Options{Broker: "tcp://127.0.0.1:1", Prefix: "ood"},
			Ready:  func(a net.Addr) { ready <- a },
		})
	}()
	var addr string
	select {
	case a := <-ready:
		addr = a.String()
	case err := <-done:
		t.Fatal(err)
	}
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
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
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
