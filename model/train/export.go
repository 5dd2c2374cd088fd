package train

import (
	"fmt"
	"strings"

	"github.com/ood-agent/ood-agent/model"
)

// ExportInfo describes the model for its metadata.
type ExportInfo struct {
	Name        string
	Description string
	Version     string
	Labels      []string
}

func metadataFor(info ExportInfo) (*model.Metadata, map[string][]byte) {
	md := &model.Metadata{
		Name: info.Name, Description: info.Description, Version: info.Version,
		Author: "ood-agent", License: "Apache-2.0",
		Inputs: []model.TensorMetadata{{
			Name: "image", Description: fmt.Sprintf("%d×%d grayscale image, pixel values 0–255 normalized as (x − mean)/std", Side, Side),
			Image: true, ColorSpace: "grayscale", Mean: []float32{0}, Std: []float32{255},
		}},
		Outputs: []model.TensorMetadata{{
			Name: "probabilities", Description: "softmax over the classes; the logits feeding it give the energy score",
			AssociatedFiles: []model.AssociatedFile{{Name: "labels.txt", Description: "class names", Type: model.FileTensorAxisLabels}},
		}},
	}
	files := map[string][]byte{"labels.txt": []byte(strings.Join(info.Labels, "\n") + "\n")}
	return md, files
}

// ExportFloat writes the network as a float32 .tflite model with metadata.
func ExportFloat(p *Params, info ExportInfo) ([]byte, error) {
	g := model.NewBuilder(info.Description)
	in := tensor(g, "image", model.Float32, []int{1, Side, Side, 1}, nil, nil)
	c1 := tensor(g, "conv1", model.Float32, []int{1, Side, Side, C1}, nil, nil)
	g.Op(model.OpConv2D, &model.Conv2DOptions{Padding: model.PaddingSame, StrideW: 1, StrideH: 1, Activation: model.ActRelu, DilationW: 1, DilationH: 1},
		[]int{in, tensor(g, "conv1/weights", model.Float32, []int{C1, 3, 3, 1}, model.Float32Bytes(p.Conv1W), nil),
			tensor(g, "conv1/bias", model.Float32, []int{C1}, model.Float32Bytes(p.Conv1B), nil)}, c1)
	p1 := tensor(g, "pool1", model.Float32, []int{1, side2, side2, C1}, nil, nil)
	g.Op(model.OpMaxPool2D, pool2Options(), []int{c1}, p1)
	c2 := tensor(g, "conv2", model.Float32, []int{1, side2, side2, C2}, nil, nil)
	g.Op(model.OpConv2D, &model.Conv2DOptions{Padding: model.PaddingSame, StrideW: 1, StrideH: 1, Activation: model.ActRelu, DilationW: 1, DilationH: 1},
		[]int{p1, tensor(g, "conv2/weights", model.Float32, []int{C2, 3, 3, C1}, model.Float32Bytes(p.Conv2W), nil),
			tensor(g, "conv2/bias", model.Float32, []int{C2}, model.Float32Bytes(p.Conv2B), nil)}, c2)
	p2 := tensor(g, "pool2", model.Float32, []int{1, side4, side4, C2}, nil, nil)
	g.Op(model.OpMaxPool2D, pool2Options(), []int{c2}, p2)
	fl := tensor(g, "flatten", model.Float32, []int{1, flat}, nil, nil)
	g.Op(model.OpReshape, &model.ReshapeOptions{NewShape: []int32{1, flat}},
		[]int{p2, tensor(g, "flatten/shape", model.Int32, []int{2}, model.Int32Bytes([]int32{1, flat}), nil)}, fl)
	h := tensor(g, "dense1", model.Float32, []int{1, Hidden}, nil, nil)
	g.Op(model.OpFullyConnected, &model.FullyConnectedOptions{Activation: model.ActRelu},
		[]int{fl, tensor(g, "dense1/weights", model.Float32, []int{Hidden, flat}, model.Float32Bytes(p.FC1W), nil),
			tensor(g, "dense1/bias", model.Float32, []int{Hidden}, model.Float32Bytes(p.FC1B), nil)}, h)
	logits := tensor(g, "logits", model.Float32, []int{1, Classes}, nil, nil)
	g.Op(model.OpFullyConnected, &model.FullyConnectedOptions{},
		[]int{h, tensor(g, "dense2/weights", model.Float32, []int{Classes, Hidden}, model.Float32Bytes(p.FC2W), nil),
			tensor(g, "dense2/bias", model.Float32, []int{Classes}, model.Float32Bytes(p.FC2B), nil)}, logits)
	probs := tensor(g, "probabilities", model.Float32, []int{1, Classes}, nil, nil)
	g.Op(model.OpSoftmax, &model.SoftmaxOptions{Beta: 1}, []int{logits}, probs)
	md, files := metadataFor(info)
	return model.EncodeWithFiles(g.Model([]int{in}, []int{probs}).WithMetadata(md), files)
}

func pool2Options() *model.Pool2DOptions {
	return &model.Pool2DOptions{Padding: model.PaddingValid, StrideW: 2, StrideH: 2, FilterWidth: 2, FilterHeight: 2}
}

// tensor adds an activation (data == nil) or a constant to g.
func tensor(g *model.Builder, name string, typ model.TensorType, shape []int, data []byte, q *model.Quantization) int {
	if data == nil {
		return g.Tensor(name, typ, shape, q)
	}
	return g.Const(name, typ, shape, data, q)
}
