package dispatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/rollout"
	"github.com/ood-agent/ood-agent/hub/ingest"
	"github.com/ood-agent/ood-agent/hub/store"
)

// offline opens a store and the hub's own publisher with no broker
// listening.
func offline(t *testing.T) (*store.Store, *ingest.Ingester) {
	t.Helper()
	s, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pub, err := ingest.New(ingest.Options{Broker: "tcp://127.0.0.1:1", Prefix: "ood", Store: s})
	if err != nil {
		t.Fatal(err)
	}
	return s, pub
}

// TestSendAuditsFirst: a command the broker refuses keeps its audit
// entry (it was signed and may be retried), while a command every agent
// would refuse is neither audited nor published.
func TestSendAuditsFirst(t *testing.T) {
	ctx := context.Background()
	s, brokerDown := offline(t)
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

// TestReleaseVersionIsAPathElement: a version that would leave the
// models directory is refused before anything is written.
func TestReleaseVersionIsAPathElement(t *testing.T) {
	ctx := context.Background()
	s, pub := offline(t)
	model, err := os.ReadFile("../../model/zoo/fashion_mnist_cnn.tflite")
	if err != nil {
		t.Fatal(err)
	}
	cal, err := os.ReadFile("../../model/zoo/fashion_mnist_cnn.calibration.json")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := control.GenerateKey(nil)
	data := filepath.Join(t.TempDir(), "data")
	d, err := New(Options{Signer: control.NewSigner(key), Prefix: "ood", Publisher: pub, Store: s, DataDir: data, PublicURL: "https://hub.example/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"../evil", "..", "a/b", "", "v 1"} {
		if _, err := d.Release(ctx, "test", v, model, cal); !errors.Is(err, ErrBadRelease) {
			t.Errorf("version %q: %v, want ErrBadRelease", v, err)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("refused uploads wrote to the data directory: %v", err)
	}
	m, err := d.Release(ctx, "test", "v1.0", model, cal)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(d.ModelPath("v1.0", ModelFile)); err != nil || len(got) != len(model) {
		t.Errorf("stored model: %d bytes, %v", len(got), err)
	}
	ring, _ := control.ParseKeyRing([]string{d.PublicKey()})
	man, err := rollout.ParseManifest(ring, m.Manifest)
	if err != nil || man.Model.URL != "https://hub.example/models/v1.0/model.tflite" {
		t.Errorf("manifest %+v, %v: want the public URL", man, err)
	}
	entries, _ := os.ReadDir(filepath.Join(data, "models"))
	if len(entries) != 1 {
		t.Errorf("models directory holds %d entries, want only v1.0 (no upload leftovers)", len(entries))
	}
}
