package model_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/conformance"
)

func conformanceModels(t testing.TB) []string {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(conformance.Dir("."), "*", "model.tflite"))
	if len(paths) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no conformance models in %s", conformance.Dir("."))
		}
		t.Skipf("no conformance models in %s", conformance.Dir("."))
	}
	return paths
}

// tinyModel builds x[1,4] -> FULLY_CONNECTED(w[3,4], b[3]) -> SOFTMAX.
func tinyModel() *model.Model {
	f32 := func(v ...float32) []byte {
		var b bytes.Buffer
		for _, x := range v {
			var u [4]byte
			bits := mathFloat32bits(x)
			u[0], u[1], u[2], u[3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
			b.Write(u[:])
		}
		return b.Bytes()
	}
	return &model.Model{
		Version:       3,
		Description:   "tiny",
		OperatorCodes: []model.OperatorCode{{Builtin: model.OpFullyConnected, Version: 1}, {Builtin: model.OpSoftmax, Version: 1}},
		Buffers:       [][]byte{nil, f32(1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0), f32(0.5, -0.5, 0)},
		Subgraphs: []model.Subgraph{{
			Name: "main",
			Tensors: []model.Tensor{
				{Name: "x", Type: model.Float32, Shape: []int{1, 4}},
				{Name: "w", Type: model.Float32, Shape: []int{3, 4}, Buffer: 1},
				{Name: "b", Type: model.Float32, Shape: []int{3}, Buffer: 2},
				{Name: "logits", Type: model.Float32, Shape: []int{1, 3}},
				{Name: "probs", Type: model.Float32, Shape: []int{1, 3}},
			},
			Inputs:  []int{0},
			Outputs: []int{4},
			Operators: []model.Operator{
				{OpcodeIndex: 0, Inputs: []int{0, 1, 2}, Outputs: []int{3}, Options: &model.FullyConnectedOptions{Activation: model.ActRelu}},
				{OpcodeIndex: 1, Inputs: []int{3}, Outputs: []int{4}, Options: &model.SoftmaxOptions{Beta: 1}},
			},
		}},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	m := tinyModel()
	data, err := model.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := model.Decode(data)
	if err != nil {
		t.Fatalf("Decode(Encode(tiny)) = %v", err)
	}
	normalize(m)
	normalize(got)
	if !reflect.DeepEqual(got, m) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got.Subgraphs[0], m.Subgraphs[0])
	}
	logits, err := got.FindLogits()
	if err != nil || logits.Tensor != 3 || !logits.ViaSoftmax {
		t.Errorf("FindLogits = %+v, %v; want tensor 3 via softmax", logits, err)
	}
}

// normalize clears differences that carry no meaning: nil vs empty slices.
func normalize(m *model.Model) {
	for i, b := range m.Buffers {
		if len(b) == 0 {
			m.Buffers[i] = nil
		}
	}
	for si := range m.Subgraphs {
		sg := &m.Subgraphs[si]
		for oi := range sg.Operators {
			if len(sg.Operators[oi].Intermediates) == 0 {
				sg.Operators[oi].Intermediates = nil
			}
			if len(sg.Operators[oi].CustomOptions) == 0 {
				sg.Operators[oi].CustomOptions = nil
			}
		}
	}
}

func TestConformanceModelsRoundTrip(t *testing.T) {
	for _, path := range conformanceModels(t) {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			m, err := model.Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			data, err := model.Encode(m)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			again, err := model.Decode(data)
			if err != nil {
				t.Fatalf("Decode(Encode): %v", err)
			}
			normalize(m)
			normalize(again)
			if !reflect.DeepEqual(again.Subgraphs, m.Subgraphs) {
				t.Errorf("subgraphs differ after round trip")
			}
			if !reflect.DeepEqual(again.Buffers, m.Buffers) {
				t.Errorf("buffers differ after round trip")
			}
		})
	}
}

func TestMobilenetMetadata(t *testing.T) {
	path := filepath.Join(conformance.Dir("."), "mobilenet_v1_025_128_uint8", "model.tflite")
	conformanceModels(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	md, err := m.ReadMetadata(raw)
	if err != nil {
		t.Fatalf("ReadMetadata: %v", err)
	}
	if md == nil || len(md.Inputs) != 1 || len(md.Outputs) != 1 {
		t.Fatalf("metadata = %+v, want one input and one output", md)
	}
	if labels := md.Labels(); len(labels) < 1000 {
		t.Errorf("Labels() has %d entries, want >= 1000", len(labels))
	}
	if len(md.Inputs[0].Mean) == 0 || len(md.Inputs[0].Std) == 0 {
		t.Errorf("input normalization missing: %+v", md.Inputs[0])
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	md := &model.Metadata{
		Name: "tiny", Description: "a test", Version: "1", Author: "ood-agent", License: "Apache-2.0",
		Inputs: []model.TensorMetadata{{Name: "image", Image: true, ColorSpace: "grayscale", Mean: []float32{0}, Std: []float32{255}, Min: []float32{-1}, Max: []float32{2}}},
		Outputs: []model.TensorMetadata{{Name: "probs", AssociatedFiles: []model.AssociatedFile{
			{Name: "labels.txt", Description: "class names", Type: model.FileTensorAxisLabels},
		}}},
	}
	files := map[string][]byte{"labels.txt": []byte("a\nb\nc\n")}
	data, err := model.EncodeWithFiles(tinyModel().WithMetadata(md), files)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Decode(data)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	got, err := m.ReadMetadata(data)
	if err != nil {
		t.Fatalf("ReadMetadata: %v", err)
	}
	if got.Name != md.Name || got.Inputs[0].ColorSpace != "grayscale" || got.Inputs[0].Std[0] != 255 || !got.Inputs[0].Image {
		t.Errorf("metadata = %+v, want %+v", got, md)
	}
	in := got.Inputs[0]
	if !reflect.DeepEqual([][]float32{in.Mean, in.Std, in.Min, in.Max}, [][]float32{{0}, {255}, {-1}, {2}}) {
		t.Errorf("input mean, std, min, max = %v %v %v %v, want [0] [255] [-1] [2]", in.Mean, in.Std, in.Min, in.Max)
	}
	if labels := got.Labels(); !reflect.DeepEqual(labels, []string{"a", "b", "c"}) {
		t.Errorf("Labels() = %q, want [a b c]", labels)
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := model.Encode(tinyModel())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short", good[:6]},
		{"wrong identifier", append(append([]byte{}, good[:4]...), []byte("XXXX")...)},
		{"truncated", good[:len(good)/2]},
		{"root offset past end", append([]byte{0xff, 0xff, 0xff, 0x7f}, good[4:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := model.Decode(tt.data)
			if !errors.Is(err, model.ErrFormat) {
				t.Errorf("Decode = %v, want ErrFormat", err)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	if good, err := model.Encode(tinyModel()); err == nil {
		f.Add(good)
	}
	paths, _ := filepath.Glob(filepath.Join(conformance.Dir("."), "*", "model.tflite"))
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil && len(data) < 256<<10 {
			f.Add(data)
		}
	}
	// Large models are left out of the seeds: each execution would spend
	// its time copying megabytes, not exploring structure.
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := model.Decode(data)
		if err != nil {
			return
		}
		// A model that decodes must encode again, and its metadata must
		// decode without panicking.
		_, _ = m.ReadMetadata(data)
		_, _ = m.FindLogits()
		_ = m.OpCounts()
	})
}

// TestMetadataZipCutShort: a model whose associated-file zip is cut short
// still loads, without its labels, and says so in Metadata.Warnings.
func TestMetadataZipCutShort(t *testing.T) {
	md := &model.Metadata{
		Name: "tiny",
		Outputs: []model.TensorMetadata{{Name: "probs", AssociatedFiles: []model.AssociatedFile{
			{Name: "labels.txt", Type: model.FileTensorAxisLabels},
		}}},
	}
	data, err := model.EncodeWithFiles(tinyModel().WithMetadata(md), map[string][]byte{"labels.txt": []byte("a\nb\nc\n")})
	if err != nil {
		t.Fatal(err)
	}
	whole, err := model.OpenBytes("whole", data)
	if err != nil || len(whole.Metadata.Warnings) != 0 || len(whole.Metadata.Labels()) != 3 {
		t.Fatalf("whole model: %v, warnings %q", err, whole.Metadata.Warnings)
	}
	for _, cut := range []int{1, 22, 40} {
		f, err := model.OpenBytes("cut", data[:len(data)-cut])
		if err != nil {
			t.Fatalf("cut by %d bytes: %v, want the model to load", cut, err)
		}
		if f.Metadata.Labels() != nil {
			t.Errorf("cut by %d bytes: labels %q", cut, f.Metadata.Labels())
		}
		want := "labels.txt: named by the metadata but not in the model file (its zip archive is missing or cut short)"
		if len(f.Metadata.Warnings) != 1 || !strings.HasPrefix(f.Metadata.Warnings[0], want) {
			t.Errorf("cut by %d bytes: warnings %q, want one starting %q", cut, f.Metadata.Warnings, want)
		}
	}
	// A member whose bytes are damaged fails its checksum: warned, skipped.
	bad := bytes.Clone(data)
	i := bytes.LastIndex(bad, []byte("a\nb\nc\n"))
	if i < 0 {
		t.Fatal("labels not stored verbatim")
	}
	bad[i] = 'z'
	f, err := model.OpenBytes("damaged", bad)
	if err != nil {
		t.Fatalf("damaged labels: %v, want the model to load", err)
	}
	want := "labels.txt: unreadable in the model's zip archive (cut short?): zip: checksum error"
	if f.Metadata.Labels() != nil || len(f.Metadata.Warnings) != 1 || f.Metadata.Warnings[0] != want {
		t.Errorf("damaged labels: labels %q, warnings %q, want %q", f.Metadata.Labels(), f.Metadata.Warnings, want)
	}
}

// TestReleasePages drops a mapped model's pages and reads the file through
// the mapping again: the bytes come back from the file, the same.
func TestReleasePages(t *testing.T) {
	path := filepath.Join(conformance.Dir("."), "mobilenet_v1_025_128_uint8", "model.tflite")
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := model.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := f.SHA256()
	f.ReleasePages()
	if !bytes.Equal(f.Raw, want) {
		t.Fatal("mapped bytes differ from the file after ReleasePages")
	}
	if f.SHA256() != sum {
		t.Error("SHA-256 changed")
	}
	heap, err := model.OpenBytes("heap", want)
	if err != nil {
		t.Fatal(err)
	}
	heap.ReleasePages() // a no-op for bytes in the heap
	if heap.SHA256() != sum || !bytes.Equal(heap.Raw, want) {
		t.Error("a heap copy changed")
	}
}
