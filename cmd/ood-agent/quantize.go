package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/dataset"
	"github.com/ood-agent/ood-agent/model/kernels"
	"github.com/ood-agent/ood-agent/model/preprocess"
	"github.com/ood-agent/ood-agent/model/quantize"
)

func newModelQuantizeCommand() *cobra.Command {
	var (
		sets       []string
		samples    int
		ioType     string
		out        string
		perChannel bool
	)
	cmd := &cobra.Command{
		Use:   "quantize FLOAT.tflite --calibration-data INPUT [--calibration-data INPUT ...] --out INT8.tflite",
		Short: "Quantize a float32 image model to full-integer int8 using calibration images",
		Long: `Quantize runs the float model on calibration images (a directory of PNG/JPEG
files, an idx3 file or noise:uniform[:N] / noise:gaussian[:N]), prepared the way
the agent prepares frames, records the range of every activation and writes an
int8 model: asymmetric int8 activations, per-channel int8 convolution weights,
int32 biases. The float model's metadata and label files are kept.

With --io int8 (the default) the model's input and output are int8, which the
agent runs fastest; --io float32 keeps float input and output and quantizes
inside the graph, as the TensorFlow Lite converter does by default.

The quantized model is a new file with a new SHA-256: calibrate its OOD
threshold again with 'ood-agent calibrate' before the agent uses it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			if len(sets) == 0 {
				return fmt.Errorf("at least one --calibration-data is required")
			}
			if samples < 1 {
				return fmt.Errorf("--samples %d: want at least 1", samples)
			}
			var opts quantize.Options
			switch ioType {
			case "int8":
				opts.IOType = model.Int8
			case "float32":
				opts.IOType = model.Float32
			default:
				return fmt.Errorf("--io %q: want int8 or float32", ioType)
			}
			opts.PerChannelFullyConnected = perChannel

			f, err := model.Open(args[0])
			if err != nil {
				return err
			}
			calibration, err := calibrationSamples(f, sets, samples)
			if err != nil {
				return err
			}
			qm, err := quantize.Quantize(f.Model, calibration, opts)
			if err != nil {
				return fmt.Errorf("quantize %s: %w", args[0], err)
			}
			var files map[string][]byte
			if f.Metadata != nil {
				files = f.Metadata.Files
			}
			raw, err := model.EncodeWithFiles(qm, files)
			if err != nil {
				return fmt.Errorf("encode quantized model: %w", err)
			}
			if err := os.WriteFile(out, raw, 0o644); err != nil {
				return err
			}
			printQuantizeSummary(cmd, f, qm, len(calibration), out, len(raw))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&sets, "calibration-data", nil, "calibration images: image directory, idx3 file, image file or noise:uniform[:N]/noise:gaussian[:N] (repeatable)")
	fl.IntVar(&samples, "samples", 200, "number of calibration images, spread evenly over the inputs")
	fl.StringVar(&ioType, "io", "int8", "type of the quantized model's input and output: int8 or float32")
	fl.StringVar(&out, "out", "", "path of the quantized model to write")
	fl.BoolVar(&perChannel, "per-channel-dense", false, "one weight scale per FULLY_CONNECTED output row (needs a runtime that reads per-channel dense weights)")
	return cmd
}

// calibrationItem names one image of one calibration set.
type calibrationItem struct {
	set   *dataset.Set
	index int
}

// calibrationSamples prepares up to n images, taken evenly across the sets,
// as float32 input tensors of f's single image input.
func calibrationSamples(f *model.File, paths []string, n int) ([][][]byte, error) {
	if len(f.Subgraphs) == 0 || len(f.Subgraphs[0].Inputs) != 1 {
		return nil, fmt.Errorf("%s: calibration from images needs a model with one input", f.Name)
	}
	mt := f.Input(0)
	if mt.Type != model.Float32 {
		return nil, fmt.Errorf("%s: input %q is %s, want a float32 model", f.Name, mt.Name, mt.Type)
	}
	in := &kernels.Tensor{Name: mt.Name, Type: model.Float32, Shape: slices.Clone(mt.Shape)}
	in.Data = kernels.AlignedBytes(in.Bytes())
	spec, err := preprocess.SpecFor(f, in, preprocess.Options{})
	if err != nil {
		return nil, err
	}
	pre := preprocess.New(spec)

	var items []calibrationItem
	for _, p := range paths {
		set, err := dataset.Open(p)
		if err != nil {
			return nil, fmt.Errorf("calibration data %s: %w", p, err)
		}
		for i := 0; i < set.Len(); i++ {
			items = append(items, calibrationItem{set: set, index: i})
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("calibration data %s: no images", strings.Join(paths, ", "))
	}
	n = min(n, len(items))
	samples := make([][][]byte, 0, n)
	for k := 0; k < n; k++ {
		if err := fillCalibrationInput(pre, items[k*len(items)/n], in); err != nil {
			return nil, err
		}
		samples = append(samples, [][]byte{slices.Clone(in.Data)})
	}
	return samples, nil
}

func fillCalibrationInput(pre *preprocess.Preprocessor, it calibrationItem, in *kernels.Tensor) error {
	if im := it.set.Images; im != nil {
		if err := pre.Gray(im.At(it.index), im.Width, im.Height, in); err != nil {
			return fmt.Errorf("%s[%d]: %w", it.set.Name, it.index, err)
		}
		return nil
	}
	path := it.set.Files[it.index]
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	img, err := preprocess.Decode(data, preprocess.Limits{MaxBytes: 20 << 20, MaxPixels: 40_000_000})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := pre.Image(img, in); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func printQuantizeSummary(cmd *cobra.Command, f *model.File, qm *model.Model, samples int, out string, size int) {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s → %s\n", f.Name, out)
	fmt.Fprintf(tw, "calibration\t%d images\n", samples)
	counts := qm.OpCounts()
	names := make([]string, 0, len(counts))
	for name := range counts {
		names = append(names, name)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s×%d", name, counts[name])
	}
	fmt.Fprintf(tw, "ops\t%d quantized: %s\n", len(f.Subgraphs[0].Operators), strings.Join(parts, " "))
	for i := range qm.Subgraphs[0].Inputs {
		fmt.Fprintf(tw, "input %d\t%s\n", i, formatTensor(describeTensor(qm, qm.Subgraphs[0].Inputs[i])))
	}
	for i := range qm.Subgraphs[0].Outputs {
		fmt.Fprintf(tw, "output %d\t%s\n", i, formatTensor(describeTensor(qm, qm.Subgraphs[0].Outputs[i])))
	}
	fmt.Fprintf(tw, "size\t%d → %d bytes (%.0f%%)\n", len(f.Raw), size, 100*float64(size)/float64(max(len(f.Raw), 1)))
	tw.Flush()
}
