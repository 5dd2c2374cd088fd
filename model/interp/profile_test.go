package interp

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/conformance"
)

// TestInvokeTimed checks that the profiled run lists every operator in
// order, times each, and computes what Invoke computes.
func TestInvokeTimed(t *testing.T) {
	m, err := model.Load(filepath.Join(conformance.Dir("."), "mobilenet_v1_025_128_uint8", "model.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := New(m, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	timed, err := New(m, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer timed.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range plain.Input(0).Data {
		plain.Input(0).Data[i] = byte(rng.IntN(256))
	}
	copy(timed.Input(0).Data, plain.Input(0).Data)

	ops := timed.Ops()
	if len(ops) != len(m.Subgraphs[0].Operators) {
		t.Fatalf("%d ops listed, the model has %d", len(ops), len(m.Subgraphs[0].Operators))
	}
	for i, op := range ops {
		if op.Name == "" || op.Output == "" || len(op.Shape) == 0 || (i > 0 && op.Index <= ops[i-1].Index) {
			t.Fatalf("op %d = %+v: want a name, an output with a shape, indices in order", i, op)
		}
	}
	times := make([]time.Duration, len(ops))
	if err := plain.Invoke(); err != nil {
		t.Fatal(err)
	}
	if err := timed.InvokeTimed(times); err != nil {
		t.Fatal(err)
	}
	// A reshape may take less than the clock's resolution; a convolution
	// may not.
	for i, d := range times {
		if d <= 0 && ops[i].Name == "CONV_2D" {
			t.Errorf("op %d (%s): no time recorded", ops[i].Index, ops[i].Name)
		}
	}
	if !bytes.Equal(plain.Output(0).Data, timed.Output(0).Data) {
		t.Error("InvokeTimed computed other outputs than Invoke")
	}
	if err := timed.InvokeTimed(times[1:]); err == nil {
		t.Error("InvokeTimed accepted too few times")
	}
}
