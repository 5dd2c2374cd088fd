package ingest_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/hub/ingest"
	"github.com/ood-agent/ood-agent/hub/internal/agentsim"
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
)

// TestIngestTLS: the hub connects as the agent does to a broker that
// requires TLS, a client certificate and a password, with the same
// options (agent/mqtt.TLSOptions).
func TestIngestTLS(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.WithTLS(), mosquittotest.WithUser("hub", "hub-pw"), mosquittotest.WithUser("agent", "agent-pw"))
	files := broker.TLS()
	tlsOpts := mqtt.TLSOptions{CAFile: files.CAFile, CertFile: files.ClientCertFile, KeyFile: files.ClientKeyFile}
	s := openStore(t, "sqlite://"+filepath.Join(t.TempDir(), "hub.db"))
	startIngester(t, ingest.Options{Broker: broker.URL(), ClientID: "hub-tls", Username: "hub", Password: "hub-pw", TLS: tlsOpts, Prefix: "ood", Store: s})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub, err := mqtt.New(mqtt.Options{Broker: broker.URL(), ClientID: "agent", Username: "agent", Password: "agent-pw", TLS: tlsOpts, KeepAlive: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	go pub.Run(ctx)
	if err := pub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	dev, _ := agentsim.NewDevice("ood", "cam-tls")
	m := dev.Alert(time.Now())
	payload, _ := json.Marshal(m)
	waitFor(t, "alert over TLS", func() bool {
		if err := pub.Publish(ctx, dev.Topics.Alert(), payload, 1, false); err != nil {
			t.Fatal(err)
		}
		_, err := s.Alert(ctx, m.ID)
		return err == nil
	})

	// A plain-text broker URL with TLS options is refused up front, as in
	// the agent, rather than silently connecting without TLS.
	if _, err := ingest.New(ingest.Options{Broker: "tcp://127.0.0.1:1", TLS: tlsOpts, Prefix: "ood", Store: s}); err == nil {
		t.Error("TLS options with a tcp:// broker accepted")
	}
}
