package dispatch

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/hub/ingest"
	"github.com/ood-agent/ood-agent/hub/store"
)

// TestSendAuditsFirst: a command the broker refuses keeps its audit
// entry (it was signed and may be retried), while a command every agent
// would refuse is neither audited nor published.
func TestSendAuditsFirst(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The hub's own publisher, with no broker listening.
	brokerDown, err := ingest.New(ingest.Options{Broker: "tcp://127.0.0.1:1", Prefix: "ood", Store: s})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := control.GenerateKey(nil)
	d, err := New(Options{Signer: control.NewSigner(key), Prefix: "ood", Publisher: brokerDown, Store: s, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := d.Send(ctx, Request{Operator: "test", Target: control.Device("cam-1"), Type: control.TypePause})
	if !errors.Is(err, ErrNotPublished) || cmd.ID == "" {
		t.Fatalf("Send with the broker down: %v (id %q), want ErrNotPublished", err, cmd.ID)
	}
	if _, err := d.Send(ctx, Request{Target: control.Device("cam-1"), Type: control.TypeSetThreshold, Args: []byte(`{"target_tpr":1.5}`)}); control.CodeOf(err) != control.CodeInvalidArgs {
		t.Errorf("bad args: %v, want invalid_args", err)
	}
	log, err := s.Commands(ctx, store.CommandFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1 || log[0].ID != cmd.ID || log[0].Operator != "test" {
		t.Errorf("audit log = %+v, want only %s", log, cmd.ID)
	}
	for name, opts := range map[string]Options{
		"signing key": {Publisher: brokerDown, Store: s, DataDir: "x"},
		"publisher":   {Signer: control.NewSigner(key), Store: s, DataDir: "x"},
		"store":       {Signer: control.NewSigner(key), Publisher: brokerDown, DataDir: "x"},
		"data":        {Signer: control.NewSigner(key), Publisher: brokerDown, Store: s},
	} {
		if _, err := New(opts); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("New without %s: %v", name, err)
		}
	}
}
