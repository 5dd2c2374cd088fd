package model_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/conformance"
)

func TestFindFeaturesTiny(t *testing.T) {
	m := tinyModel()
	f, err := m.FindFeatures()
	if err != nil {
		t.Fatal(err)
	}
	want := model.Features{Tensor: 0, Dim: 4, Head: 0, HeadOp: model.OpFullyConnected, Weights: 1, Bias: 2, Classes: 3, Activation: model.ActRelu, Logits: 3}
	if f != want {
		t.Errorf("FindFeatures = %+v, want %+v", f, want)
	}
}

func TestFindFeaturesRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m *model.Model)
	}{
		{"no head: logits are the input", func(m *model.Model) {
			sg := &m.Subgraphs[0]
			sg.Operators = sg.Operators[1:]
			sg.Operators[0].Inputs = []int{0}
		}},
		{"weights not constant", func(m *model.Model) { m.Subgraphs[0].Tensors[1].Buffer = 0 }},
		{"feature count differs from weights", func(m *model.Model) { m.Subgraphs[0].Tensors[0].Shape = []int{1, 5} }},
		{"tanh head", func(m *model.Model) {
			m.Subgraphs[0].Operators[0].Options = &model.FullyConnectedOptions{Activation: model.ActTanh}
		}},
		{"3×3 conv head", func(m *model.Model) {
			sg := &m.Subgraphs[0]
			m.OperatorCodes[0].Builtin = model.OpConv2D
			sg.Tensors[1].Shape = []int{3, 2, 2, 1}
			sg.Operators[0].Options = &model.Conv2DOptions{}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tinyModel()
			tt.mutate(m)
			if f, err := m.FindFeatures(); !errors.Is(err, model.ErrNoFeatures) {
				t.Errorf("FindFeatures = %+v, %v; want ErrNoFeatures", f, err)
			}
		})
	}
}

func TestFindFeaturesZooAndConformance(t *testing.T) {
	tests := []struct {
		path           string
		name           string
		dim, classes   int
		op             model.BuiltinOp
		conformanceDir bool
	}{
		{"zoo/fashion_mnist_cnn.tflite", "dense1", 128, 10, model.OpFullyConnected, false},
		{"zoo/fashion_mnist_cnn_int8.tflite", "dense1", 128, 10, model.OpFullyConnected, false},
		{"zoo/fashion_mnist_cnn_energy_int8.tflite", "dense1", 128, 10, model.OpFullyConnected, false},
		{"mobilenet_v2_224_uint8/model.tflite", "MobilenetV2/Logits/AvgPool", 1280, 1001, model.OpConv2D, true},
		{"inat_bird_v2_224_uint8/model.tflite", "", 1280, 965, model.OpFullyConnected, true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			path := tt.path
			if tt.conformanceDir {
				path = filepath.Join(conformance.Dir("."), tt.path)
				if _, err := os.Stat(path); err != nil {
					conformanceModels(t) // fails under CI, skips locally
					t.Fatalf("missing %s", path)
				}
			}
			f, err := model.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			feat, err := f.FindFeatures()
			if err != nil {
				t.Fatal(err)
			}
			sg := &f.Subgraphs[0]
			if feat.Dim != tt.dim || feat.Classes != tt.classes || feat.HeadOp != tt.op {
				t.Errorf("features %+v: want dim %d, %d classes, head %s", feat, tt.dim, tt.classes, tt.op)
			}
			if tt.name != "" && sg.Tensors[feat.Tensor].Name != tt.name {
				t.Errorf("feature tensor %q, want %q", sg.Tensors[feat.Tensor].Name, tt.name)
			}
			lg, _ := f.FindLogits()
			if feat.Logits != lg.Tensor {
				t.Errorf("features name logits %d, FindLogits %d", feat.Logits, lg.Tensor)
			}
		})
	}
}
